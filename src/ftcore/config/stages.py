"""The option tables of the built-in training stages: ``[dpo]``, ``[kto]``, ``[orpo]``, ``[simpo]``, ``[cpo]``,
``[rm]`` (top-level tables of run.toml, read by the stage that ``train.stage`` names).

Each is a :class:`~ftcore.config.types.Section` (unknown keys are errors, values strict and ranged), so a typo in
``[dpo]`` reads ``run.toml: dpo.bta: unknown key (did you mean dpo.beta?)`` like any other key. The registered
:class:`ftcore.StageSpec` of each stage names its model here (``options``); a plugin's stage brings its own model
and its table is validated when the run's names are checked (``ftcore.validation``). Nothing here imports torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ftcore.config.types import Bool, Float, Section

#: the stages ftcore ships (``train.stage``); the catalog (``ftcore stages``) may hold more from plugins
BUILTIN_STAGES = ("sft", "dpo", "kto", "orpo", "simpo", "cpo", "rm")

#: TRL's DPO loss types (``trl.DPOConfig.loss_type``) that ``[dpo] loss_type`` accepts
DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                  "aot_unpaired", "apo_zero", "apo_down", "discopop", "sigmoid_norm")

DPOLoss = Literal["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                  "aot_unpaired", "apo_zero", "apo_down", "discopop", "sigmoid_norm"]


class ReferenceOptions(Section):
    """Keys every stage with a reference model shares (dpo, kto)."""

    reference: str = Field(
        "auto", description='the reference model: "auto" = the policy\'s own start (with LoRA: the base with the '
        "adapter disabled, no second copy in memory; full: a frozen copy), or a model name / folder / hub id")
    precompute_ref: Bool = Field(
        False, description="compute the reference log-probs once before training (cached with the data "
        "fingerprint); no reference forward passes while training")


class DPOOptions(ReferenceOptions):
    """``[dpo]``: Direct Preference Optimization (TRL's DPOTrainer losses)."""

    beta: Float = Field(0.1, gt=0.0, le=1000.0, description="deviation from the reference (higher: stay closer); "
                        "ms-swift: beta")
    loss_type: DPOLoss = Field("sigmoid", description="sigmoid (DPO), ipo, hinge, robust, bco_pair, apo_zero … "
                               "(TRL's names); ms-swift: loss_type")
    label_smoothing: Float = Field(0.0, ge=0.0, lt=0.5, description="robust / exo_pair: the probability a "
                                   "preference label is flipped; ms-swift: label_smoothing")
    rpo_alpha: Float | None = Field(None, ge=0.0, le=1000.0, description="adds rpo_alpha × the chosen answers' "
                                    "NLL (RPO); None = off; ms-swift: rpo_alpha")
    discopop_tau: Float = Field(0.05, gt=0.0, le=100.0, description="loss_type = discopop: its temperature")


class KTOOptions(ReferenceOptions):
    """``[kto]``: Kahneman-Tversky Optimization on unpaired good / bad answers."""

    beta: Float = Field(0.1, gt=0.0, le=1000.0, description="deviation from the reference; ms-swift: beta")
    loss_type: Literal["kto", "apo_zero_unpaired"] = Field("kto", description="TRL's KTO loss types")
    desirable_weight: Float = Field(1.0, gt=0.0, le=1000.0, description="weight of the desirable (label = true) "
                                    "answers' loss; ms-swift: desirable_weight")
    undesirable_weight: Float = Field(1.0, gt=0.0, le=1000.0, description="weight of the undesirable answers' "
                                      "loss; ms-swift: undesirable_weight")


class ORPOOptions(Section):
    """``[orpo]``: Odds Ratio Preference Optimization (no reference model)."""

    beta: Float = Field(0.1, gt=0.0, le=1000.0, description="weight of the odds-ratio term (λ in the paper)")


class CPOOptions(Section):
    """``[cpo]``: Contrastive Preference Optimization (no reference model)."""

    beta: Float = Field(0.1, gt=0.0, le=1000.0, description="the preference loss's temperature")
    loss_type: Literal["sigmoid", "hinge", "ipo"] = Field("sigmoid", description="TRL's CPO loss types")
    label_smoothing: Float = Field(0.0, ge=0.0, lt=0.5, description="conservative preference label smoothing")
    cpo_alpha: Float = Field(1.0, ge=0.0, le=1000.0, description="weight of the chosen answers' NLL term")


class SimPOOptions(Section):
    """``[simpo]``: SimPO (length-normalized rewards with a target margin, no reference model)."""

    beta: Float = Field(2.0, gt=0.0, le=1000.0, description="reward scale")
    gamma: Float = Field(0.5, ge=0.0, le=1000.0, description="target reward margin (TRL's simpo_gamma)")
    label_smoothing: Float = Field(0.0, ge=0.0, lt=0.5, description="conservative preference label smoothing")
    cpo_alpha: Float = Field(0.0, ge=0.0, le=1000.0, description="weight of an added chosen-NLL term (CPO-SimPO)")


class RewardOptions(Section):
    """``[rm]``: a reward model (a scalar head trained on preference pairs, Bradley-Terry)."""

    center_rewards_coefficient: Float | None = Field(
        None, ge=0.0, le=1000.0, description="pushes rewards towards mean zero (TRL's center_rewards_coefficient)")
    margin: Float = Field(0.0, ge=0.0, le=1000.0, description="the chosen reward must beat the rejected one by this "
                          "much: loss = -log sigmoid(r_chosen - r_rejected - margin)")


#: the option table of each built-in stage that has one (top-level run.toml table name → model)
STAGE_TABLES: dict[str, type[Section]] = {
    "dpo": DPOOptions,
    "kto": KTOOptions,
    "orpo": ORPOOptions,
    "simpo": SimPOOptions,
    "cpo": CPOOptions,
    "rm": RewardOptions,
}
