"""ORPO: Odds Ratio Preference Optimization (no reference model): the chosen answers' NLL minus ``beta`` times the
log-sigmoid of the log odds ratio of chosen over rejected (per-token mean log-probs).

The pair batches and log-probs are the pairwise stages' (:mod:`ftcore.training.stages.preference`); the loss is
:func:`ftcore.training.stages.objectives.orpo_loss`, checked against ``trl.experimental.orpo``. One difference from
TRL, on purpose: the NLL term covers the chosen answer's label span (answer + turn end, what SFT trains on), where
TRL's ORPOTrainer takes it over prompt and answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ftcore.training.stages.objectives import PairLoss, orpo_loss
from ftcore.training.stages.preference import PreferenceRecipe, PreferenceTrainer, pair_logps, pairs_in


def policy_terms(model: Any, inputs: dict[str, Any], loss_only_head: bool
                 ) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pairs, summed log-probs, per-token mean log-probs, the chosen answers' mean NLL) of a pair batch."""
    n = pairs_in(inputs)
    out = pair_logps(model, inputs, 2 * n, loss_only_head=loss_only_head)
    mean = out["logps"] / out["tokens"].clamp(min=1.0)
    chosen_tokens = out["token_seq"] < n
    nll = -out["token_logps"][chosen_tokens].mean()
    return n, out["logps"], mean, nll


def pair_metrics(out: PairLoss, logps: torch.Tensor, n: int, nll: torch.Tensor) -> dict[str, torch.Tensor]:
    c, r = out.chosen_rewards, out.rejected_rewards
    return {"rewards/chosen": c, "rewards/rejected": r, "rewards/accuracies": (c > r).float(),
            "rewards/margins": c - r, "logps/chosen": logps[:n].detach(), "logps/rejected": logps[n:].detach(),
            "nll_loss": nll.detach().reshape(1)}


class ORPOTrainer(PreferenceTrainer):
    """ORPO's loss (``[orpo] beta``)."""

    def pair_loss(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n, logps, mean, nll = policy_terms(model, inputs, self.loss_only_head)
        out = orpo_loss(mean[:n], mean[n:], nll, beta=float(self.stage_options.beta))
        return out.loss, pair_metrics(out, logps, n, nll)


class ORPORecipe(PreferenceRecipe):
    """``train.stage = "orpo"``: SFT's steps with pair data and :class:`ORPOTrainer` (no reference model)."""

    stage = "orpo"
    data_kind: ClassVar[str] = "pair"
    uses_reference: ClassVar[bool] = False
    trainer_class: ClassVar[type | None] = ORPOTrainer


__all__ = ["ORPORecipe", "ORPOTrainer", "pair_metrics", "policy_terms"]
