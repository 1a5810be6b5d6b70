"""CPO: Contrastive Preference Optimization (no reference model): a DPO-style loss on the policy's own
log-probabilities plus ``cpo_alpha`` times the chosen answers' NLL (behaviour cloning).

``[cpo] loss_type``: sigmoid and hinge compare summed log-probs, ipo per-token means (as TRL's CPOTrainer). The
loss is :func:`ftcore.training.stages.objectives.cpo_loss`, checked against ``trl.experimental.cpo``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ftcore.training.stages.objectives import cpo_loss
from ftcore.training.stages.orpo import pair_metrics, policy_terms
from ftcore.training.stages.preference import PreferenceRecipe, PreferenceTrainer


class CPOTrainer(PreferenceTrainer):
    """CPO's loss (``[cpo]``: beta, loss_type, label_smoothing, cpo_alpha); SimPO's trainer subclasses it."""

    #: the loss type when the options table has none (SimPO)
    fixed_loss_type: ClassVar[str | None] = None

    def loss_settings(self) -> dict[str, Any]:
        o = self.stage_options
        return {"beta": float(o.beta), "loss_type": o.loss_type, "cpo_alpha": float(o.cpo_alpha),
                "label_smoothing": float(o.label_smoothing)}

    def pair_loss(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        settings = self.loss_settings()
        n, logps, mean, nll = policy_terms(model, inputs, self.loss_only_head)
        used = mean if settings["loss_type"] in ("ipo", "simpo") else logps
        out = cpo_loss(used[:n], used[n:], nll if settings["cpo_alpha"] else 0.0, **settings)
        return out.loss, pair_metrics(out, logps, n, nll)


class CPORecipe(PreferenceRecipe):
    """``train.stage = "cpo"``: SFT's steps with pair data and :class:`CPOTrainer` (no reference model)."""

    stage = "cpo"
    data_kind: ClassVar[str] = "pair"
    uses_reference: ClassVar[bool] = False
    trainer_class: ClassVar[type | None] = CPOTrainer


__all__ = ["CPORecipe", "CPOTrainer"]
