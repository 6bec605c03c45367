"""SSL-level adversarial disentanglement of a protected attribute.

Two ways to train an encoder whose utterance representation hides an attribute (sex,
accent, age band) while it keeps learning its self-supervised objective:

* :class:`AdversarialTask` — gradient reversal (Ganin et al. 2016, JMLR, §5): an attribute
  head reads the mean-pooled last encoder state through a :func:`~essl.fairness.grl.grad_reverse`
  layer; the loss is ``L_ssl + CE(head(GRL_λ(z)), a)``. One backward trains the head to
  predict the attribute and the encoder (with ``−λ`` times that gradient) to hide it. It is an
  ordinary :class:`~essl.objectives.SSLTask`: the trainer needs nothing new.
* :class:`AlternatingAdversary` — the alternating scheme of Noé et al. 2021, "Adversarial
  Disentanglement of Speaker Representation for Attribute-Driven Privacy Preservation"
  (Interspeech, §2, after Fader networks, Lample et al. 2017, §3): ``k`` discriminator
  updates on detached representations, then one encoder update on
  ``L_ssl + λ · L_adv`` where ``L_adv`` is the *negated* discriminator loss (``"negated"``) or
  the discriminator loss towards flipped labels (``"flipped"``, binary attributes; Fader's
  choice, bounded below, hence more stable).

The encoder's output is captured with a forward hook on ``base.encoder``: the base task calls
its encoder once, the hook keeps ``hidden`` (B, T, D) and ``padding_mask`` (B, T); nothing is
recomputed. With a masking objective the pooled state is that of the masked input.

Attribute ids come from ``batch.extras["attribute"]`` (B,) when the loader provides them,
else from :func:`attribute_ids` on ``batch.utterances``; ``-100`` (unknown) rows are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from essl.data.batch import Batch
from essl.data.manifest import Utterance
from essl.errors import ConfigError
from essl.fairness.grl import WeightSchedule, grad_reverse
from essl.objectives.base import SSLTask, TaskOutput

__all__ = [
    "AdversarialTask",
    "AlternatingAdversary",
    "AttributeHead",
    "attribute_classes",
    "attribute_ids",
    "attribute_value",
]

IGNORE = -100


def attribute_value(utt: Utterance, attribute: str) -> str | None:
    """The group of ``utt`` for ``attribute`` (``sex``, ``accent``, ``age``; ages → decade bands)."""
    if attribute not in ("sex", "accent", "age"):
        raise ConfigError(f"attribute '{attribute}': use sex, accent or age")
    v = getattr(utt, attribute)
    if v is None:
        return None
    if attribute == "age" and isinstance(v, (int, float)):
        return f"{int(v) // 10 * 10}s"
    return str(v)


def attribute_classes(utts: Sequence[Utterance], attribute: str) -> list[str]:
    """Sorted distinct groups of ``attribute`` in ``utts``."""
    return sorted({v for u in utts if (v := attribute_value(u, attribute)) is not None})


def attribute_ids(
    utts: Sequence[Utterance], attribute: str, classes: Sequence[str]
) -> torch.Tensor:
    """(B,) long index in ``classes`` of each utterance's group, ``-100`` when unknown/unlisted."""
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor(
        [index.get(attribute_value(u, attribute) or "", IGNORE) for u in utts], dtype=torch.long
    )


def masked_mean(hidden: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B, T) True = padded → (B, D) mean over valid frames."""
    keep = (~padding_mask).to(hidden.dtype)[..., None]
    return (hidden * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class AttributeHead(nn.Module):
    """MLP ``D → hidden → num_groups`` on pooled features (a linear layer when ``hidden=0``)."""

    def __init__(self, dim: int, num_groups: int, hidden: int = 256) -> None:
        super().__init__()
        self.net: nn.Module = (
            nn.Linear(dim, num_groups)
            if hidden == 0
            else nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, num_groups))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, G)


class _Capture:
    """Forward hook keeping the encoder's last (hidden, padding_mask)."""

    def __init__(self, encoder: nn.Module) -> None:
        self.value: tuple[torch.Tensor, torch.Tensor] | None = None
        self.handle = encoder.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: Any) -> None:
        self.value = (output.hidden, output.padding_mask)

    def take(self) -> torch.Tensor:
        """(B, D) pooled states of the last encoder call (cleared after reading)."""
        if self.value is None:
            raise RuntimeError("the base task did not call its encoder; adversarial loss needs it")
        hidden, pad = self.value
        self.value = None
        return masked_mean(hidden, pad)


def _batch_groups(batch: Batch, attribute: str, classes: Sequence[str]) -> torch.Tensor:
    if "attribute" in batch.extras:
        return batch.extras["attribute"]
    return attribute_ids(batch.utterances, attribute, classes).to(batch.wavs.device)


def _ce_acc(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    valid = y != IGNORE
    if not bool(valid.any()):
        return logits.sum() * 0.0, float("nan")
    ce = nn.functional.cross_entropy(logits[valid], y[valid])
    return ce, float((logits[valid].argmax(-1) == y[valid]).float().mean())


class AdversarialTask(SSLTask):
    """``base`` plus a gradient-reversed attribute head (module docstring)."""

    def __init__(
        self,
        base: SSLTask,
        attribute: str,
        classes: Sequence[str],
        schedule: WeightSchedule | None = None,
        head_hidden: int = 256,
    ) -> None:
        super().__init__()
        self.schedule = schedule or WeightSchedule()
        self.schedule.validate()
        if len(classes) < 2:
            raise ConfigError(
                f"adversarial attribute '{attribute}': needs >= 2 groups, got {classes}"
            )
        self.base, self.attribute, self.classes = base, attribute, list(classes)
        self.encoder = base.encoder
        # per-instance override of the ClassVar: the wrapper needs what its base needs
        self.__dict__["required_fields"] = base.required_fields
        dim = int(getattr(getattr(base.encoder, "cfg", None), "embed_dim", 0)) or _out_dim(
            base.encoder
        )
        self.head = AttributeHead(dim, len(classes), head_hidden)
        self.lambd = self.schedule(0)
        self._capture = _Capture(base.encoder)

    def forward(self, batch: Batch) -> TaskOutput:
        out = self.base(batch)
        z = self._capture.take()
        y = _batch_groups(batch, self.attribute, self.classes)
        ce, acc = _ce_acc(self.head(grad_reverse(z, self.lambd)), y)
        logs = {**out.logs, "adv_ce": float(ce.detach()), "adv_weight": self.lambd}
        if acc == acc:  # not nan
            logs["adv_acc"] = acc
        return TaskOutput(
            loss=out.loss + ce,
            logs=logs,
            num_frames=out.num_frames,
            masked_frames=out.masked_frames,
        )

    def on_update(self, num_updates: int) -> None:
        self.lambd = self.schedule(num_updates)
        self.base.on_update(num_updates)


def _out_dim(encoder: nn.Module) -> int:
    last = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ConfigError(
            "AdversarialTask: cannot infer the encoder's feature size; give an "
            "essl Encoder (with cfg.embed_dim)"
        )
    return int(last[-1].out_features)


class AlternatingAdversary:
    """Noé et al. 2021 (§2) alternating updates around any :class:`SSLTask` (module docstring).

    Use from a custom loop in place of the trainer's step (``optimizer`` holds the task's
    parameters; the discriminator has its own Adam)::

        adv = AlternatingAdversary(task, "sex", ["female", "male"], discriminator_steps=2)
        for step, batch in enumerate(batches):
            logs = adv.step(batch.to(device), optimizer, step)

    Each call runs the task once; the captured pooled state ``z`` (B, D) feeds ``k``
    discriminator updates on ``z.detach()``, then one encoder update on
    ``L_ssl + λ(step) · L_adv(disc(z))`` with the discriminator frozen.
    """

    def __init__(
        self,
        task: SSLTask,
        attribute: str,
        classes: Sequence[str],
        *,
        discriminator_steps: int = 1,
        schedule: WeightSchedule | None = None,
        objective: str = "negated",
        lr: float = 1e-3,
        head_hidden: int = 256,
        grad_clip: float = 0.0,
        device: str | torch.device = "cpu",
    ) -> None:
        if discriminator_steps < 1:
            raise ConfigError("discriminator_steps must be >= 1 (Noé et al. use k >= 1)")
        if objective not in ("negated", "flipped"):
            raise ConfigError(f"objective '{objective}': use negated or flipped")
        if objective == "flipped" and len(classes) != 2:
            raise ConfigError("objective 'flipped' needs a binary attribute; use 'negated'")
        self.schedule = schedule or WeightSchedule(kind="linear")
        self.schedule.validate()
        self.task, self.attribute, self.classes = task, attribute, list(classes)
        self.k, self.objective, self.grad_clip = discriminator_steps, objective, grad_clip
        dim = int(getattr(getattr(task.encoder, "cfg", None), "embed_dim", 0)) or _out_dim(
            task.encoder
        )
        self.disc = AttributeHead(dim, len(classes), head_hidden).to(device)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=lr)
        self._capture = _Capture(task.encoder)

    def _adversarial_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        valid = y != IGNORE
        if not bool(valid.any()):
            return logits.sum() * 0.0
        if self.objective == "negated":
            return -nn.functional.cross_entropy(logits[valid], y[valid])
        return nn.functional.cross_entropy(logits[valid], 1 - y[valid])

    def step(
        self, batch: Batch, optimizer: torch.optim.Optimizer, num_updates: int
    ) -> dict[str, float]:
        """One alternation: ``k`` discriminator updates, then one encoder update; returns logs."""
        out = self.task(batch)
        z = self._capture.take()
        y = _batch_groups(batch, self.attribute, self.classes)
        d_ce, acc = torch.zeros(()), float("nan")
        for _ in range(self.k):
            d_ce, acc = _ce_acc(self.disc(z.detach()), y)
            if d_ce.requires_grad:
                self.disc_opt.zero_grad(set_to_none=True)
                d_ce.backward()
                self.disc_opt.step()
        lambd = self.schedule(num_updates)
        self.disc.requires_grad_(False)
        try:
            adv = self._adversarial_loss(self.disc(z), y)
            loss = out.loss + lambd * adv
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            self.disc.requires_grad_(True)
        if self.grad_clip > 0:
            params = [p for g in optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        optimizer.step()
        self.task.on_update(num_updates + 1)
        return {
            **out.logs,
            "loss": float(out.loss.detach()),
            "adv_loss": float(adv.detach()),
            "disc_ce": float(d_ce.detach()),
            "disc_acc": acc,
            "adv_weight": lambd,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"disc": self.disc.state_dict(), "disc_opt": self.disc_opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.disc.load_state_dict(state["disc"])
        self.disc_opt.load_state_dict(state["disc_opt"])
