"""Debiasing at SSL and downstream level.

SSL level: :class:`AdversarialTask` (gradient reversal on an attribute head, an
:class:`~essl.objectives.SSLTask` wrapper), :class:`AlternatingAdversary` (Noé et al. 2021
alternating updates), group-balanced sampling and loss reweighting
(:mod:`essl.fairness.balancing`), counterfactual augmentation
(:mod:`essl.fairness.counterfactual_aug`).

Downstream: fair probes (adversarial head, counterfactual consistency, reweighting) and the
fairness-weight Pareto sweep (:mod:`essl.fairness.downstream`); corpus-level constraints at
inference and bias amplification (:mod:`essl.fairness.rba`).
"""

from essl.fairness.adversarial import (
    AdversarialTask,
    AlternatingAdversary,
    AttributeHead,
    attribute_classes,
    attribute_ids,
    attribute_value,
)
from essl.fairness.balancing import (
    balanced_manifest,
    group_loss_weights,
    group_sampling_weights,
    reweighted_loss,
)
from essl.fairness.counterfactual_aug import counterfactual_augment
from essl.fairness.downstream import (
    FairProbe,
    FairProbeConfig,
    ParetoPoint,
    consistency_loss,
    fit_fair_probe,
    pareto_front,
    sweep,
)
from essl.fairness.grl import GradientReversal, WeightSchedule, grad_reverse
from essl.fairness.rba import RBAResult, bias_amplification, bias_scores, rba_decode

__all__ = [
    "AdversarialTask",
    "AlternatingAdversary",
    "AttributeHead",
    "FairProbe",
    "FairProbeConfig",
    "GradientReversal",
    "ParetoPoint",
    "RBAResult",
    "WeightSchedule",
    "attribute_classes",
    "attribute_ids",
    "attribute_value",
    "balanced_manifest",
    "bias_amplification",
    "bias_scores",
    "consistency_loss",
    "counterfactual_augment",
    "fit_fair_probe",
    "grad_reverse",
    "group_loss_weights",
    "group_sampling_weights",
    "pareto_front",
    "rba_decode",
    "reweighted_loss",
    "sweep",
]
