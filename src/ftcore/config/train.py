"""The [train], [generation] and [eval] sections of run.toml."""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ftcore.config.types import MAX_BATCH, MAX_STEPS, Bool, Float, Int, Section

#: DeepSpeed configurations ftcore ships (``train.deepspeed = "zero2"``); anything else is a path to a .json file
DEEPSPEED_PRESETS = ("zero2", "zero3", "zero2-offload", "zero3-offload")


class TrainConfig(Section):
    """The training loop (transformers.Trainer arguments)."""

    epochs: Float = Field(1, gt=0, le=10_000, description="ms-swift: num_train_epochs")
    max_steps: Int = Field(-1, ge=-1, le=MAX_STEPS, description="> 0 overrides epochs; -1 = train for epochs")
    batch_size: Int = Field(1, ge=1, le=MAX_BATCH, description="per device; ms-swift: batch_size")
    eval_batch_size: Int | None = Field(
        None, ge=1, le=MAX_BATCH, description="None = batch_size (1 with eval.predict_with_generate); ms-swift: eval_batch_size"
    )
    grad_accum: Int = Field(16, ge=1, le=MAX_BATCH, description="ms-swift: gradient_accumulation_steps")
    lr: Annotated[Float, Field(gt=0, le=10)] | Literal["auto"] = Field(
        "auto", description="auto = 1e-4 for LoRA / QLoRA, 2e-5 for full; ms-swift: learning_rate"
    )
    weight_decay: Float = Field(0.01, ge=0.0, le=100.0, description="ms-swift: weight_decay")
    max_grad_norm: Float = Field(1.0, ge=0.0, le=1e6, description="gradient clipping; ms-swift: max_grad_norm")
    scheduler: Literal[
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
        "cosine_with_min_lr",
        "warmup_stable_decay",
    ] = Field("cosine", description="transformers' lr_scheduler_type; ms-swift: lr_scheduler_type")
    warmup_ratio: Float = Field(0.05, ge=0.0, le=1.0, description="ms-swift: warmup_ratio")
    optim: str = Field("adamw_torch", description="transformers' optim name; ms-swift: optim")
    neftune_alpha: Float | None = Field(
        None, gt=0, le=1000, description="NEFTune: noise of this scale on the input embeddings while training (any "
        "tuner; transformers' neftune_noise_alpha, 5 typical)")
    eval_steps: Int = Field(50, ge=1, le=MAX_STEPS, description="evaluate (and pick the best checkpoint) every N steps")
    save_steps: Int | None = Field(None, ge=1, le=MAX_STEPS, description="None = eval_steps")
    logging_steps: Int = Field(5, ge=1, le=MAX_STEPS, description="ms-swift: logging_steps")
    save_total_limit: Int | None = Field(
        2, ge=-1, le=MAX_STEPS, description="checkpoints kept (best and last survive); -1 = all"
    )
    only_save_model: Bool | None = Field(None, description="None = true for full or DeepSpeed runs")
    seed: Int = Field(42, ge=0, le=2**32 - 1, description="global seed (+ rank under DDP); ms-swift: seed")
    dataloader_num_workers: Int = Field(1, ge=0, le=256, description="ms-swift: dataloader_num_workers")
    gradient_checkpointing: Bool = Field(
        False, description="trade compute for memory; ms-swift: gradient_checkpointing"
    )
    resume_from_checkpoint: str | None = Field(None, description='a checkpoint path or "latest"')
    deepspeed: str | None = Field(
        None, description="zero2 | zero3 | zero2-offload | zero3-offload, or a DeepSpeed config .json file"
    )
    ddp_backend: Literal["nccl", "gloo", "mpi", "ccl"] | None = Field(
        None, description="None = nccl on CUDA, gloo on CPU; ms-swift: ddp_backend"
    )
    test_oom_error: Bool = Field(False, description="train longest samples first so an OOM shows early")
    loss_only_head: Bool = Field(True, description="apply the LM head only where labels carry loss")
    report_to: list[str] = Field(
        default_factory=lambda: ["tensorboard"], description="transformers integrations that receive the logs"
    )
    stage: str = Field(
        "sft", description="the training stage: sft, dpo, kto, orpo, simpo, cpo, rm or a plugin's (ftcore stages); "
        "its options are the top-level table of that name ([dpo] …); ms-swift: rlhf_type"
    )

    @field_validator("deepspeed")
    @classmethod
    def _deepspeed_preset(cls, value: str | None) -> str | None:
        if value is None or value.endswith(".json") or value in DEEPSPEED_PRESETS:
            return value
        close = difflib.get_close_matches(value, DEEPSPEED_PRESETS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ValueError(
            f"unknown preset {value!r} ({hint}use {', '.join(DEEPSPEED_PRESETS)} or a .json file)"
        )


class GenerationConfig(Section):
    """Generation settings (inference and generate-based evaluation)."""

    max_new_tokens: Int = Field(2048, ge=1, le=10**7, description="ms-swift: max_new_tokens")
    do_sample: Bool = Field(True, description="false = greedy; ms-swift: do_sample")
    temperature: Float = Field(0.9, ge=0.0, le=100.0, description="ms-swift: temperature")
    top_k: Int = Field(20, ge=0, le=10**7, description="ms-swift: top_k")
    top_p: Float = Field(0.9, gt=0.0, le=1.0, description="ms-swift: top_p")
    repetition_penalty: Float = Field(1.05, gt=0.0, le=100.0, description="ms-swift: repetition_penalty")


class EvalConfig(Section):
    """Evaluation during and after training."""

    predict_with_generate: Bool = Field(False, description="score ROUGE-L / BLEU-4 on generated answers")
    metric: str | None = Field(
        None, description="metric choosing the best checkpoint; None = loss or rouge-l"
    )
    overwrite_generation_config: Bool = Field(
        False, description="write [generation] into the checkpoint's generation_config.json; ms-swift: same name"
    )
