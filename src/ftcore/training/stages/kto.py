"""KTO: Kahneman-Tversky Optimization on single answers labelled desirable (``label = true``) or not.

The rows are ``prompt_ids``, ``completion_ids``, ``label`` (:func:`ftcore.data.preference.prepare_preference_data`
with ``kind = "kto"``: the answer is the SFT label span). KTO's reference point is a KL estimate from mismatched
prompt / answer pairs; as in TRL, each row's mismatched answer is the previous row's within consecutive groups of
``train.batch_size`` rows (``kl_ids``, fixed when the data is prepared, so precomputed reference log-probs match).
A batch is one padding-free row per example, ``[prompt + answer | prompt + mismatched answer]``, through the
pairwise stages' :func:`~ftcore.training.stages.preference.pair_logps` (sequence ``k``: the answer, ``B + k``: the
mismatched one). The loss is :func:`ftcore.training.stages.objectives.kto_loss`, checked against TRL's KTOTrainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ftcore.training.stages.objectives import kto_kl, kto_loss
from ftcore.training.stages.preference import (
    PairCollator,
    PreferenceRecipe,
    PreferenceTrainer,
    pair_logps,
    pairs_in,
)


@dataclass
class KTOCollator(PairCollator):
    """KTO rows → the pair batch layout: "chosen" = the row's answer, "rejected" = its mismatched answer."""

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        pairs = []
        for f in features:
            pair = {"prompt_ids": f["prompt_ids"], "chosen_ids": f["completion_ids"], "rejected_ids": f["kl_ids"]}
            pair.update({k: f[k] for k in ("ref_chosen_logps", "ref_rejected_logps") if k in f})
            pairs.append(pair)
        out = super().__call__(pairs)
        out["label"] = torch.tensor([bool(f["label"]) for f in features])
        return out


def with_kl_ids(ds: Any, group: int) -> Any:
    """``kl_ids``: the answer of the previous row within consecutive groups of ``group`` rows (TRL's rotation)."""
    answers = ds["completion_ids"]
    kl: list[list[int]] = []
    for start in range(0, len(answers), max(1, group)):
        chunk = answers[start:start + max(1, group)]
        kl += [chunk[-1], *chunk[:-1]]
    return ds.add_column("kl_ids", kl)


class KTOTrainer(PreferenceTrainer):
    """KTO's loss (``[kto]``: beta, loss_type, desirable_weight, undesirable_weight) over policy and reference
    log-probs of the answers and of the mismatched answers."""

    def pair_loss(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        opts = self.stage_options
        n = pairs_in(inputs)
        logps = pair_logps(model, inputs, 2 * n, loss_only_head=self.loss_only_head)["logps"]
        ref = self.reference.logps(model, inputs, n, self.loss_only_head).to(logps.device)
        y = inputs["label"].to(logps.device).bool()
        seq, kl_seq, ref_seq, ref_kl = logps[:n], logps[n:], ref[:n].detach(), ref[n:].detach()
        kl = kto_kl(kl_seq.detach(), ref_kl) if opts.loss_type == "kto" else torch.zeros((), device=logps.device)
        out = kto_loss(seq[y], seq[~y], ref_seq[y], ref_seq[~y], kl, beta=float(opts.beta),
                       desirable_weight=float(opts.desirable_weight),
                       undesirable_weight=float(opts.undesirable_weight), loss_type=opts.loss_type)
        metrics = {"rewards/chosen": out.chosen_rewards, "rewards/rejected": out.rejected_rewards,
                   "logps/chosen": seq[y].detach(), "logps/rejected": seq[~y].detach(), "kl": kl.reshape(1)}
        return out.loss, metrics


class KTORecipe(PreferenceRecipe):
    """``train.stage = "kto"``: SFT's steps with labelled single answers, the reference model and
    :class:`KTOTrainer`."""

    stage = "kto"
    data_kind: ClassVar[str] = "kto"
    uses_reference: ClassVar[bool] = True
    trainer_class: ClassVar[type | None] = KTOTrainer

    def prepare_data(self) -> None:
        super().prepare_data()
        group = max(2, int(self.cfg.train.batch_size))  # a batch of one would pair a row with itself
        for part in ("train", "validation"):
            ds = getattr(self.data, part)
            if ds is not None and len(ds):
                setattr(self.data, part, with_kl_ids(ds, group))

    def collator(self) -> KTOCollator:
        base = super().collator()
        return KTOCollator(base.pad_token_id, padding_free=base.padding_free, flatten=base.flatten)


__all__ = ["KTOCollator", "KTORecipe", "KTOTrainer", "with_kl_ids"]
