"""DPO: Direct Preference Optimization on chosen / rejected pairs, every loss of TRL's DPOTrainer.

ftcore computes the loss itself, on its own pair batches (:mod:`ftcore.training.stages.preference`: padding-free
pairs, the LM head on answer tokens only, the reference as the base with the LoRA adapter disabled), with TRL's
formulas and names; ``tests/training/stages/test_dpo.py`` checks loss, log-probs and rewards against
``trl.DPOTrainer`` on the same model and pairs (sigmoid and ipo, with and without LoRA).

Logged like TRL: ``rewards/chosen``, ``rewards/rejected``, ``rewards/accuracies``, ``rewards/margins``,
``logps/chosen``, ``logps/rejected`` (``eval_`` before them for the validation pairs).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ftcore.training.stages.preference import PreferenceRecipe, PreferenceTrainer, pair_logps, pairs_in


def dpo_losses(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
               opts: Any, *, chosen_tokens: torch.Tensor | None = None, rejected_tokens: torch.Tensor | None = None
               ) -> torch.Tensor:
    """The per-pair loss of ``opts.loss_type`` (TRL's DPOTrainer formulas; ``*_tokens`` for ipo / sigmoid_norm)."""
    beta, eps = float(opts.beta), float(opts.label_smoothing)
    cr, rr = chosen - ref_chosen, rejected - ref_rejected
    delta = cr - rr
    kind = opts.loss_type
    if kind == "sigmoid":
        return -F.logsigmoid(beta * delta)
    if kind == "hinge":
        return torch.relu(1 - beta * delta)
    if kind in ("ipo", "sigmoid_norm"):
        assert chosen_tokens is not None and rejected_tokens is not None
        d = cr / chosen_tokens.clamp(min=1.0) - rr / rejected_tokens.clamp(min=1.0)
        return (d - 1 / (2 * beta)) ** 2 if kind == "ipo" else -F.logsigmoid(beta * d)
    if kind == "exo_pair":
        e = torch.tensor(eps, device=delta.device)
        return torch.sigmoid(beta * delta) * (F.logsigmoid(beta * delta) - torch.log1p(-e)) + \
            torch.sigmoid(-beta * delta) * (F.logsigmoid(-beta * delta) - torch.log(e))
    if kind == "nca_pair":
        return -F.logsigmoid(beta * cr) - 0.5 * F.logsigmoid(-beta * cr) - 0.5 * F.logsigmoid(-beta * rr)
    if kind == "robust":
        return (-(1 - eps) * F.logsigmoid(beta * delta) + eps * F.logsigmoid(-beta * delta)) / (1 - 2 * eps)
    if kind == "bco_pair":
        return -F.logsigmoid(beta * cr) - F.logsigmoid(-beta * rr)
    if kind == "sppo_hard":
        return (cr - 0.5 / beta) ** 2 + (rr + 0.5 / beta) ** 2
    if kind in ("aot", "aot_unpaired"):
        if kind == "aot":
            d = torch.sort(chosen - rejected, dim=0)[0] - torch.sort(ref_chosen - ref_rejected, dim=0)[0]
        else:
            d = torch.sort(cr, dim=0)[0] - torch.sort(rr, dim=0)[0]
        return -F.logsigmoid(beta * d) * (1 - eps) - F.logsigmoid(-beta * d) * eps
    if kind == "apo_zero":
        return 1 - torch.sigmoid(beta * cr) + torch.sigmoid(beta * rr)
    if kind == "apo_down":
        return torch.sigmoid(beta * cr) + 1 - torch.sigmoid(beta * (cr - rr))
    if kind == "discopop":
        logits = delta * beta
        mix = torch.sigmoid(logits / float(opts.discopop_tau))
        return -F.logsigmoid(logits) * (1 - mix) + torch.exp(-logits) * mix
    raise ValueError(f"unknown DPO loss_type {kind!r}")


class DPOTrainer(PreferenceTrainer):
    """DPO's loss (``[dpo]``: beta, loss_type, label_smoothing, rpo_alpha, discopop_tau) over policy and
    reference log-probs of the pair batches."""

    def pair_loss(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        opts = self.stage_options
        n = pairs_in(inputs)
        policy = pair_logps(model, inputs, 2 * n, loss_only_head=self.loss_only_head)
        ref = self.reference.logps(model, inputs, n, self.loss_only_head).to(policy["logps"].device)
        return dpo_loss(policy, ref, n, opts)


def dpo_loss(policy: dict[str, torch.Tensor], ref: torch.Tensor, n: int, opts: Any
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The batch's DPO loss (mean over pairs, + ``rpo_alpha`` × the chosen answers' mean NLL) and its metrics."""
    logps, tokens = policy["logps"], policy["tokens"]
    chosen, rejected = logps[:n], logps[n:]
    ref_chosen, ref_rejected = ref[:n].detach(), ref[n:].detach()
    losses = dpo_losses(chosen, rejected, ref_chosen, ref_rejected, opts, chosen_tokens=tokens[:n],
                        rejected_tokens=tokens[n:])
    loss = losses.mean()
    if opts.rpo_alpha is not None:
        chosen_tokens = policy["token_seq"] < n
        loss = loss + float(opts.rpo_alpha) * -policy["token_logps"][chosen_tokens].mean()
    chosen_rewards = float(opts.beta) * (chosen - ref_chosen).detach()
    rejected_rewards = float(opts.beta) * (rejected - ref_rejected).detach()
    metrics = {
        "rewards/chosen": chosen_rewards, "rewards/rejected": rejected_rewards,
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float(),
        "rewards/margins": chosen_rewards - rejected_rewards,
        "logps/chosen": chosen.detach(), "logps/rejected": rejected.detach(),
    }
    return loss, metrics


class DPORecipe(PreferenceRecipe):
    """``train.stage = "dpo"``: SFT's steps with pair data, the reference model and :class:`DPOTrainer`."""

    stage = "dpo"
    data_kind: ClassVar[str] = "pair"
    uses_reference: ClassVar[bool] = True
    trainer_class: ClassVar[type | None] = DPOTrainer


__all__ = ["DPORecipe", "DPOTrainer", "dpo_loss", "dpo_losses"]
