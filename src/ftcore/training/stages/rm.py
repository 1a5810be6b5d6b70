"""Reward model: the backbone with a one-output head (``AutoModelForSequenceClassification``, ``num_labels = 1``)
trained on preference pairs with the pairwise (Bradley-Terry) loss ``-log sigmoid(r_chosen - r_rejected -
margin)`` (+ ``center_rewards_coefficient × mean((r_c + r_r)²)``), as TRL's RewardTrainer.

Pairs are encoded with the run's template like every preference stage; the reward is read at the last token of
``prompt + answer + turn end``. A batch is ``2B`` padded rows (chosen first), since the head reads each row's last
real token. With LoRA (or any peft adapter) the head is added to ``tuner.modules_to_save``: trained in full and
saved with the adapter. Checkpoints load back as reward models (:mod:`ftcore.inference.score`; ``ftcore infer
--score``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ftcore.training.stages.objectives import reward_loss
from ftcore.training.stages.preference import PairCollator, PreferenceRecipe, PreferenceTrainer, pairs_in
from ftcore.training.steps import say

#: the head's module name in transformers' sequence classifiers (Llama, Qwen2, Mistral, Gemma …)
HEAD = "score"


class RewardTrainer(PreferenceTrainer):
    """The reward model's loss (``[rm]``: margin, center_rewards_coefficient) on the chosen / rejected rewards."""

    def pair_loss(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        opts = self.stage_options
        n = pairs_in(inputs)
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
        rewards = out.logits.reshape(2 * n, -1)[:, 0].float()
        res = reward_loss(rewards[:n], rewards[n:], margin=float(opts.margin) or None,
                          center_rewards_coefficient=opts.center_rewards_coefficient)
        c, r = res.chosen_rewards, res.rejected_rewards
        return res.loss, {"rewards/chosen": c, "rewards/rejected": r, "rewards/accuracies": (c > r).float(),
                          "rewards/margins": c - r}


class RewardRecipe(PreferenceRecipe):
    """``train.stage = "rm"``: the model loads as a sequence classifier, the head trains with the tuner, pairs
    are padded rows, :class:`RewardTrainer` computes the loss."""

    stage = "rm"
    data_kind: ClassVar[str] = "pair"
    uses_reference: ClassVar[bool] = False
    trainer_class: ClassVar[type | None] = RewardTrainer
    padding_free_pairs: ClassVar[bool] = False  # the head reads each row's last token

    def load_model(self) -> None:
        """The run's model as a one-output sequence classifier (fp32 master weights for a full run in fp16)."""
        from ftcore.inference.score import reward_spec, set_pad_token
        from ftcore.models import load, resolve_dtype, resolve_model

        spec, model_dir = resolve_model(self.cfg)
        dtype = resolve_dtype(self.cfg.model.dtype, spec)
        load_dtype = "fp32" if dtype == "fp16" else dtype  # the head always trains in full
        self.decide(model_name=spec.name, model_dir=str(model_dir), dtype=dtype, load_dtype=load_dtype)
        say(f"reward model {spec.name}: {model_dir} ({load_dtype}) + a 1-output head")
        self.spec = spec
        self.model, self.tokenizer = load(self.cfg, reward_spec(spec), model_dir, dtype=load_dtype)
        set_pad_token(self.model, self.tokenizer)

    def apply_tuner(self) -> None:
        """An adapter method trains and saves the head too (``modules_to_save`` gets ``score``)."""
        cfg = self.cfg
        if cfg.tuner.method != "full" and HEAD not in cfg.tuner.modules_to_save:
            import dataclasses

            changed = cfg.model_copy(deep=True)
            changed.tuner.modules_to_save = [*cfg.tuner.modules_to_save, HEAD]
            self.run_record = dataclasses.replace(self.run_record, config=changed)
        if not hasattr(self.model, "prepare_inputs_for_generation"):
            # the adapter tuners build peft's causal-LM wrapper, which looks this up; a classifier never generates
            self.model.prepare_inputs_for_generation = _no_generation
        super().apply_tuner()
        for peft_config in getattr(self.model, "peft_config", {}).values():
            peft_config.task_type = "SEQ_CLS"  # the saved adapter loads back onto a sequence classifier

    def prepare_data(self) -> None:
        super().prepare_data()
        self.decide(packing=False)  # the head reads each row's last token: one sequence per row

    def collator(self) -> PairCollator:
        from ftcore.data.collate import pad_token_id

        return PairCollator(pad_token_id(self.tokenizer), padding_free=False)


def _no_generation(*args: Any, **kwargs: Any) -> dict[str, Any]:
    raise NotImplementedError("a reward model scores text; it does not generate")


__all__ = ["HEAD", "RewardRecipe", "RewardTrainer"]
