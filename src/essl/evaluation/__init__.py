"""Evaluation of speech representations; every metric cites its paper and section.

Unit quality (:mod:`essl.evaluation.units`): phone purity, cluster purity and PNMI of
discrete codes against phone alignments (HuBERT, Hsu et al. 2021, §IV-E).
"""

from essl.evaluation.units import UnitQuality, joint_distribution, unit_quality

__all__ = ["UnitQuality", "joint_distribution", "unit_quality"]

# Representation evaluation (ABX, RankMe, α-ReQ, probes, ``essl evaluate``). Exported lazily
# (PEP 562) so that importing this package stays torch-free.
_LAZY = {
    "ABXConfig": "essl.evaluation.abx",
    "ABXItem": "essl.evaluation.abx",
    "ABXResult": "essl.evaluation.abx",
    "abx": "essl.evaluation.abx",
    "abx_items": "essl.evaluation.abx",
    "AlphaReQ": "essl.evaluation.spectrum",
    "alpha_req": "essl.evaluation.spectrum",
    "rankme": "essl.evaluation.spectrum",
    "ProbeConfig": "essl.evaluation.probes",
    "fit_probe_suite": "essl.evaluation.probes",
    "CTCConfig": "essl.evaluation.ctc",
    "fit_ctc_suite": "essl.evaluation.ctc",
    "CorpusFeatures": "essl.evaluation.features",
    "extract_corpus_features": "essl.evaluation.features",
    "load_model": "essl.evaluation.features",
    "HFEncoder": "essl.evaluation.hf",
    "EvalConfig": "essl.evaluation.evaluate",
    "TASKS": "essl.evaluation.evaluate",
    "evaluate_model": "essl.evaluation.evaluate",
    "flat_scores": "essl.evaluation.evaluate",
    "run_evaluation": "essl.evaluation.evaluate",
}
__all__ += sorted(_LAZY)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'essl.evaluation' has no attribute '{name}'")
