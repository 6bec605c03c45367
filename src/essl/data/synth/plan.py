"""What to synthesize: the speakers, and which sentence each utterance speaks in which split
(the rule is :data:`SPLIT_RULE`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from essl.data.synth.config import SynthConfig
from essl.data.synth.text import make_sentences
from essl.data.synth.voices import Speaker, make_speakers

__all__ = ["SPLIT_RULE", "UttPlan", "plan_corpus"]

SAMPLE_RATE = 16000
SPLIT_RULE = (
    "The shuffled sentence pool is cut into three disjoint parts (test, dev, train), so no "
    "sentence is shared across splits. Held-out speakers (about test_fraction of each sex, "
    "the last ones) speak only test sentences and form the test split; the other speakers "
    "put each utterance in dev with probability dev_fraction (with a dev sentence) and "
    "otherwise in train. So the test split is speaker-disjoint, and dev shares speakers, not "
    "sentences, with train. Counterfactual twins inherit their original's split and sentence."
)


@dataclass(frozen=True, kw_only=True)
class UttPlan:
    id: str
    speaker: Speaker
    text: str
    split: str
    twin: str | None
    seed: int
    """Seeds espeak-ng's noise generators for this utterance."""
    pad_start: int
    """Leading silence, samples at 16 kHz."""
    pad_end: int


def estimate_seconds(text: str, rate: int) -> float:
    """Expected length: a least-squares fit of the padded durations of espeak-ng utterances
    on words / rate (words come out about 13% faster than ``rate`` says)."""
    return 0.87 * len(text.split()) * 60.0 / rate + 0.2


def match_twins(speakers: list[Speaker]) -> dict[str, Speaker]:
    """Each speaker's counterfactual partner: other sex, same split group, same accent when
    possible, then the closest rate."""
    out = {}
    for s in speakers:
        cands = [o for o in speakers if o.sex != s.sex and o.test == s.test]
        cands.sort(key=lambda o: (o.accent != s.accent, abs(o.rate - s.rate), o.id))
        if cands:
            out[s.id] = cands[0]
    return out


class _Pools:
    def __init__(self, cfg: SynthConfig, n_utts: int) -> None:
        n = max(400, 3 * n_utts)
        pool = make_sentences(n, cfg.seed)
        n_test = max(1, round(n * cfg.test_fraction))
        n_dev = max(1, round(n * cfg.dev_fraction))
        self.pools = {
            "test": pool[:n_test],
            "dev": pool[n_test : n_test + n_dev],
            "train": pool[n_test + n_dev :],
        }
        self.cursor = dict.fromkeys(self.pools, 0)

    def next(self, split: str) -> str:
        pool = self.pools[split]
        self.cursor[split] += 1
        return pool[(self.cursor[split] - 1) % len(pool)]


class _Utterances:
    """Collects :class:`UttPlan` s, numbering each speaker's utterances."""

    def __init__(self, seed: int, speakers: list[Speaker]) -> None:
        self.seed = seed
        self.count = {s.id: 0 for s in speakers}
        self.plans: list[UttPlan] = []

    def next_id(self, spk: Speaker) -> str:
        return f"{spk.id}_{self.count[spk.id]:04d}"

    def add(self, spk: Speaker, text: str, split: str, twin: str | None) -> None:
        rng = np.random.default_rng([self.seed, 2, len(self.plans)])
        uid = self.next_id(spk)
        self.count[spk.id] += 1
        self.plans.append(
            UttPlan(
                id=uid,
                speaker=spk,
                text=text,
                split=split,
                twin=twin,
                seed=int(rng.integers(1, 2**31 - 1)),
                pad_start=int(rng.uniform(0.05, 0.25) * SAMPLE_RATE),
                pad_end=int(rng.uniform(0.05, 0.2) * SAMPLE_RATE),
            )
        )


def plan_corpus(cfg: SynthConfig, data_dir: Path) -> tuple[list[Speaker], list[UttPlan]]:
    """Speakers and utterances for ``cfg`` (deterministic; nothing is synthesized).

    Each speaker gets an equal share of ``cfg.minutes`` (half of it when each sentence is
    also spoken by a twin), filled with sentences until the estimated length is reached.
    """
    speakers = make_speakers(
        cfg.speakers, cfg.female_ratio, cfg.accents, cfg.seed, data_dir, cfg.test_fraction
    )
    twins = match_twins(speakers) if cfg.counterfactual_pairs else {}
    budget = cfg.minutes * 60.0 / cfg.speakers / (2 if cfg.counterfactual_pairs else 1)
    pools = _Pools(cfg, int(cfg.minutes * 60 / 3) + 1)
    utts = _Utterances(cfg.seed, speakers)
    for spk in speakers:
        rng = np.random.default_rng([cfg.seed, 3, int(spk.id[3:])])
        spent = 0.0
        while True:
            split = "test" if spk.test else ("dev" if rng.random() < cfg.dev_fraction else "train")
            text = pools.next(split)
            est = estimate_seconds(text, spk.rate)
            if spent + est / 2 > budget and spent > 0:
                break
            spent += est
            partner = twins.get(spk.id)
            if partner is None:
                utts.add(spk, text, split, None)
                continue
            base_id, twin_id = utts.next_id(spk), utts.next_id(partner)
            utts.add(spk, text, split, twin_id)
            utts.add(partner, text, split, base_id)
    return speakers, utts.plans
