"""The losses of the KTO, ORPO, SimPO, CPO and reward-model stages, as plain functions of log-probabilities.

Each takes per-sequence log-probabilities (or rewards) that the stage's trainer computed from ftcore's own
encodings (the label spans are the answer + turn end, as in SFT) and returns the batch loss and the values
logged with it. They follow TRL's trainers (``KTOTrainer``, ``RewardTrainer``, ``experimental.orpo`` /
``experimental.cpo``) term for term; tests/training/stages/test_objectives.py checks each against TRL.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: CPO's loss types (SimPO is CPO's ``simpo`` loss with ``cpo_alpha = 0``)
CPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "simpo")


@dataclass
class PairLoss:
    """A stage's loss on one batch and what it logs (rewards are detached)."""

    loss: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.chosen_rewards.numel():
            out["rewards/chosen"] = self.chosen_rewards.float().mean().item()
        if self.rejected_rewards.numel():
            out["rewards/rejected"] = self.rejected_rewards.float().mean().item()
        if self.chosen_rewards.shape == self.rejected_rewards.shape and self.chosen_rewards.numel():
            out["rewards/accuracies"] = (self.chosen_rewards > self.rejected_rewards).float().mean().item()
            out["rewards/margins"] = (self.chosen_rewards - self.rejected_rewards).float().mean().item()
        return out


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor, *, average: bool = False) -> torch.Tensor:
    """Per-row sum (or mean) of the log-probabilities of the label tokens (``-100`` = not counted).

    ``labels`` are aligned with the inputs (label ``t`` is predicted by the logits at ``t - 1``), as ftcore's
    encodings and the collator give them.
    """
    labels = labels[:, 1:]
    logits = logits[:, :-1, :]
    mask = labels != -100
    safe = torch.where(mask, labels, 0)
    token_logps = torch.gather(logits.float().log_softmax(-1), 2, safe.unsqueeze(-1)).squeeze(-1)
    total = (token_logps * mask).sum(-1)
    return total / mask.sum(-1).clamp(min=1) if average else total


def label_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the label tokens of a batch (the SFT term of ORPO and CPO)."""
    return F.cross_entropy(
        logits[:, :-1, :].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100
    )


def kto_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    kl: torch.Tensor,
    *,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    loss_type: str = "kto",
) -> PairLoss:
    """KTO (Ethayarajh et al. 2024, eq. 7): desirable answers are pushed above the reference point ``kl`` (the
    batch's clamped KL estimate from mismatched prompt / answer pairs), undesirable ones below it.
    ``loss_type = "apo_zero_unpaired"``: APO-zero's unpaired form (no reference point)."""
    chosen_logratios = chosen_logps - ref_chosen_logps
    rejected_logratios = rejected_logps - ref_rejected_logps
    if loss_type == "kto":
        chosen_losses = 1 - torch.sigmoid(beta * (chosen_logratios - kl))
        rejected_losses = 1 - torch.sigmoid(beta * (kl - rejected_logratios))
    elif loss_type == "apo_zero_unpaired":
        chosen_losses = 1 - torch.sigmoid(beta * chosen_logratios)
        rejected_losses = torch.sigmoid(beta * rejected_logratios)
    else:
        raise ValueError(f"unknown KTO loss_type {loss_type!r}; use kto or apo_zero_unpaired")
    losses = torch.cat((desirable_weight * chosen_losses, undesirable_weight * rejected_losses), 0)
    return PairLoss(losses.nanmean(), beta * chosen_logratios.detach(), beta * rejected_logratios.detach())


def kto_kl(kl_logps: torch.Tensor, ref_kl_logps: torch.Tensor) -> torch.Tensor:
    """KTO's reference point: the mean log-ratio of mismatched pairs, detached and clamped at 0."""
    return (kl_logps - ref_kl_logps).mean().detach().clamp(min=0)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, stable at both ends."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def orpo_loss(
    chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, nll: torch.Tensor, *, beta: float
) -> PairLoss:
    """ORPO (Hong et al. 2024): the chosen answer's NLL minus ``beta`` times the log-sigmoid of the log odds
    ratio; ``*_logps`` are per-token averages (the odds are of the mean token probability)."""
    chosen, rejected = chosen_logps.float(), rejected_logps.float()
    log_odds = (chosen - rejected) - (log1mexp(chosen) - log1mexp(rejected))
    ratio = F.logsigmoid(log_odds)
    return PairLoss(nll - (beta * ratio).mean(), beta * chosen.detach(), beta * rejected.detach())


def cpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    nll: torch.Tensor | float,
    *,
    beta: float,
    loss_type: str = "sigmoid",
    cpo_alpha: float = 1.0,
    simpo_gamma: float = 0.5,
    label_smoothing: float = 0.0,
) -> PairLoss:
    """CPO (Xu et al. 2024) without a reference model: a DPO-style loss on the policy's own log-probabilities
    plus ``cpo_alpha`` times the chosen NLL. ``loss_type = "simpo"`` is SimPO (Meng et al. 2024): length-normalized
    log-probabilities (pass per-token averages) and a target margin ``simpo_gamma``; with ``cpo_alpha = 0``
    that is plain SimPO, otherwise CPO-SimPO. ``ipo`` also expects per-token averages."""
    logits = chosen_logps - rejected_logps
    if loss_type == "simpo":
        logits = logits - simpo_gamma / beta
    if loss_type in ("sigmoid", "simpo"):
        losses = (
            -F.logsigmoid(beta * logits) * (1 - label_smoothing)
            - F.logsigmoid(-beta * logits) * label_smoothing
        )
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown CPO loss_type {loss_type!r}; use one of {', '.join(CPO_LOSS_TYPES)}")
    return PairLoss(
        losses.mean() + cpo_alpha * nll, beta * chosen_logps.detach(), beta * rejected_logps.detach()
    )


def reward_loss(
    chosen_rewards: torch.Tensor,
    rejected_rewards: torch.Tensor,
    *,
    margin: torch.Tensor | float | None = None,
    center_rewards_coefficient: float | None = None,
) -> PairLoss:
    """The reward model's pairwise (Bradley-Terry) loss ``-log sigmoid(r_c - r_r - margin)``, plus
    ``center_rewards_coefficient * mean((r_c + r_r)^2)`` to keep rewards centred (Eisenstein et al. 2023)."""
    diff = chosen_rewards - rejected_rewards
    if margin is not None:
        diff = diff - margin
    loss = -F.logsigmoid(diff).mean()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * torch.mean((chosen_rewards + rejected_rewards) ** 2)
    return PairLoss(loss, chosen_rewards.detach(), rejected_rewards.detach())
