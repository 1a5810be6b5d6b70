"""SimPO: Simple Preference Optimization (no reference model): per-token mean log-probs as the reward, scaled by
``beta``, with a target margin ``gamma``; ``cpo_alpha > 0`` adds the chosen answers' NLL (CPO-SimPO).

It is CPO's ``simpo`` loss (as in TRL, where SimPO is ``CPOTrainer`` with ``loss_type = "simpo"``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ftcore.training.stages.cpo import CPOTrainer
from ftcore.training.stages.preference import PreferenceRecipe


class SimPOTrainer(CPOTrainer):
    """SimPO's loss (``[simpo]``: beta, gamma, label_smoothing, cpo_alpha)."""

    def loss_settings(self) -> dict[str, Any]:
        o = self.stage_options
        return {"beta": float(o.beta), "loss_type": "simpo", "simpo_gamma": float(o.gamma),
                "cpo_alpha": float(o.cpo_alpha), "label_smoothing": float(o.label_smoothing)}


class SimPORecipe(PreferenceRecipe):
    """``train.stage = "simpo"``: SFT's steps with pair data and :class:`SimPOTrainer` (no reference model)."""

    stage = "simpo"
    data_kind: ClassVar[str] = "pair"
    uses_reference: ClassVar[bool] = False
    trainer_class: ClassVar[type | None] = SimPOTrainer


__all__ = ["SimPORecipe", "SimPOTrainer"]
