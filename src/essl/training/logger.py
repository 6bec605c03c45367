"""The run log: metrics.jsonl (every update), TensorBoard scalars and a progress bar.

Only rank 0 creates a :class:`RunLogger`. A ``metrics.jsonl`` line holds ``step`` (updates
done), ``loss``, every ``TaskOutput.logs`` entry, ``lr``, ``grad_norm``, ``audio_seconds``,
``step_time`` (s), ``throughput`` (audio seconds per second), ``num_frames``,
``masked_frames``, ``epoch`` and ``skipped`` (true only for a non-finite update).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["RunLogger"]


class RunLogger:
    """Append-only metrics log with TensorBoard and tqdm mirrors."""

    def __init__(
        self,
        run_dir: Path,
        *,
        start_step: int,
        max_steps: int,
        log_every: int,
        tensorboard: bool = True,
        progress: bool = True,
    ) -> None:
        from tqdm import tqdm

        self.log_every = log_every
        run_dir.mkdir(parents=True, exist_ok=True)
        self._file = (run_dir / "metrics.jsonl").open("a", encoding="utf-8")
        self._tb: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events of steps after the checkpoint we resumed from
            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step + 1)
        self._bar = tqdm(
            total=max_steps,
            initial=start_step,
            disable=not progress,
            unit="step",
            dynamic_ncols=True,
            desc="pretrain",
        )

    def log(self, record: dict[str, Any]) -> None:
        """Write one update's record (JSON line now; TB and the bar every ``log_every``)."""
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        step = int(record["step"])
        self._bar.update(1)
        if step % self.log_every:
            return
        self._bar.set_postfix(
            loss=f"{record['loss']:.4f}", audio_s_per_s=f"{record['throughput']:.1f}", refresh=False
        )
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step":
                    self._tb.add_scalar(f"train/{k}", v, step)

    def message(self, text: str) -> None:
        """Print ``text`` without breaking the progress bar."""
        self._bar.write(text)

    def close(self) -> None:
        self._bar.close()
        self._file.close()
        if self._tb is not None:
            self._tb.close()
