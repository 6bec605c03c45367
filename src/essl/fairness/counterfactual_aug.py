"""Counterfactual data augmentation for pretraining and probes.

Counterfactual augmentation (Lu et al. 2020, "Gender bias in neural NLP", §4, CDA; for ASR,
Sarı et al. 2021, TASLP, §IV): train on each utterance *and* its counterfactual — the same
words with the protected attribute changed — so no statistic of the data ties content to the
attribute. Two sources:

* ``twins`` — the manifest's ``twin`` links (the corpus builder's matched speaker of the other
  sex): every training utterance whose twin is missing from the training list gets it added;
* ``pitch`` — resampling-shifted copies (:func:`essl.evaluation.counterfactual.pitch_shift`)
  of the utterances of ``groups`` (default: every group), shifted by ``semitones``
  (use ``+`` to move male voices up, ``−`` for female voices down).

:func:`counterfactual_augment` writes a manifest (absolute paths) that any trainer consumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from essl.data.manifest import Utterance, read_manifest, resolve_audio_path, write_manifest
from essl.errors import EsslError
from essl.fairness.adversarial import attribute_value

__all__ = ["counterfactual_augment"]


def counterfactual_augment(
    utts: Sequence[Utterance],
    manifest_path: str | Path,
    out_dir: str | Path,
    mode: str = "twins",
    *,
    attribute: str = "sex",
    shifts: dict[str, float] | None = None,
    pool: Sequence[Utterance] | None = None,
) -> tuple[Path, list[Utterance]]:
    """Augment the training list ``utts``; returns (``out_dir/manifest.jsonl``, its utterances).

    ``twins``: twins are looked up in ``pool`` (default: the whole manifest at ``manifest_path``).
    ``pitch``: ``shifts`` maps a group of ``attribute`` to semitones (default ``{"male": 4,
    "female": -4}``); utterances of other groups are kept unshifted.
    """
    out = Path(out_dir)
    keep = [u.replace(path=str(resolve_audio_path(manifest_path, u).resolve())) for u in utts]
    if mode == "twins":
        pool = read_manifest(manifest_path) if pool is None else pool
        by_id = {u.id: u for u in pool}
        have = {u.id for u in keep}
        extra = [by_id[u.twin] for u in utts if u.twin in by_id and u.twin not in have]
        if not extra and not any(u.twin for u in utts):
            raise EsslError(
                f"{manifest_path}: no 'twin' links; build the corpus with "
                "`essl corpus synth --counterfactual-pairs` or use mode 'pitch'"
            )
        added = [
            u.replace(path=str(resolve_audio_path(manifest_path, u).resolve()))
            for u in {u.id: u for u in extra}.values()
        ]
        result = keep + added
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(out / "manifest.jsonl", result)
        return out / "manifest.jsonl", result
    if mode == "pitch":
        from essl.evaluation.counterfactual import make_pitch_shifted_twins

        shifts = shifts if shifts is not None else {"male": 4.0, "female": -4.0}
        result = list(keep)
        for group, st in sorted(shifts.items()):
            members = [u for u in keep if attribute_value(u, attribute) == group]
            if members:
                _, made = make_pitch_shifted_twins(
                    members, manifest_path, out / f"shift_{group}", st
                )
                result += [
                    u.replace(path=str((out / f"shift_{group}" / u.path).resolve()))
                    for u in made[len(members) :]
                ]
        write_manifest(out / "manifest.jsonl", result)
        return out / "manifest.jsonl", result
    raise EsslError(f"counterfactual augmentation mode '{mode}': use twins or pitch")
