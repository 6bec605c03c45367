"""Evaluation of speech representations; every metric cites its paper and section.

Unit quality (:mod:`essl.evaluation.units`): phone purity, cluster purity and PNMI of
discrete codes against phone alignments (HuBERT, Hsu et al. 2021, §IV-E).
"""

from essl.evaluation.units import UnitQuality, joint_distribution, unit_quality

__all__ = ["UnitQuality", "joint_distribution", "unit_quality"]
