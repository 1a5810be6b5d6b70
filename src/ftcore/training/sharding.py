"""Sharding and long contexts: ``train.fsdp`` (PyTorch FSDP / FSDP2) and ``train.context_parallel`` (DeepSpeed
Ulysses), both through accelerate as transformers' ``TrainingArguments`` exposes it.

ftcore writes no sharding or communication code: it decides ``fsdp`` / ``fsdp_config`` / ``parallelism_config`` and
the Trainer's accelerator does the rest (``fully_shard`` per decoder layer, DTensor state dicts, Ulysses all-to-all).

    train.fsdp = "full_shard"       → fsdp_config = {version: 2, reshard_after_forward: true, …}
    train.fsdp = "shard_grad_op"    → reshard_after_forward: false (ZeRO-2-like: parameters stay gathered)
    train.fsdp = "hybrid_shard"     → ParallelismConfig(dp_replicate_size = nodes, dp_shard_size = GPUs per node)
    train.fsdp = "offload"          → full_shard + cpu_offload (parameters, gradients, optimizer states on the CPU)
    train.context_parallel = N      → ParallelismConfig(sp_backend = "deepspeed", sp_size = N)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftcore.errors import FtcoreError
from ftcore.training.distributed import local_world_size, world_size

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

__all__ = ["ContextParallelCollator", "context_parallel_arguments", "context_parallel_collator",
           "decoder_layer_classes", "fsdp_arguments", "fsdp_on_cpu", "merged_state_dict", "sequence_parallel_active",
           "sharded_checkpoint", "sharding_arguments", "tie_to_model_output", "use_fsdp_state_on_cpu",
           "write_whole_weights"]

#: FSDP1's sharding strategy names (FSDP2 says the same with reshard_after_forward / a 2-D mesh)
_FSDP1_STRATEGY = {"full_shard": "FULL_SHARD", "shard_grad_op": "SHARD_GRAD_OP", "hybrid_shard": "HYBRID_SHARD",
                   "offload": "FULL_SHARD"}


def _base_model(model: Any) -> Any:
    """The transformers model inside peft / DDP wrappers."""
    base = model
    for _ in range(6):
        inner = base.get_base_model() if hasattr(base, "get_base_model") else getattr(base, "module", None)
        if inner is None or inner is base:
            break
        base = inner
    return base


def decoder_layer_classes(model: Any) -> list[str]:
    """The class names FSDP wraps one by one: the model's ``_no_split_modules`` (its decoder layer) that occur in
    it (a multimodal model lists its vision blocks too)."""
    base = _base_model(model)
    names = list(getattr(base, "_no_split_modules", None) or [])
    present = {type(m).__name__ for m in base.modules()}
    found = [n for n in names if n in present]
    if not found:
        raise FtcoreError(f"train.fsdp: {type(base).__name__} names no decoder layer class (_no_split_modules) to "
                          "shard by; use train.deepspeed instead")
    return found


def fsdp_on_cpu(cfg: RunConfig) -> bool:
    """An FSDP run of several processes on a machine without accelerators (gloo; the tests)."""
    from ftcore.training.environment import cpu_only

    return bool(cfg.train.fsdp) and cpu_only() and world_size() > 1


def fsdp_arguments(cfg: RunConfig, model: Any) -> dict[str, Any]:
    """The ``TrainingArguments`` keys of ``train.fsdp``: ``fsdp``, ``fsdp_config`` and, for ``hybrid_shard`` under
    FSDP2, a 2-D ``parallelism_config`` (replicate across nodes, shard within one)."""
    t = cfg.train
    strategy = str(t.fsdp)
    config: dict[str, Any] = {
        "version": t.fsdp_version,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "transformer_layer_cls_to_wrap": decoder_layer_classes(model),
        "state_dict_type": "SHARDED_STATE_DICT" if t.fsdp_state_dict == "sharded" else "FULL_STATE_DICT",
        # activation checkpointing through FSDP (the Trainer's own gradient checkpointing is switched off)
        "activation_checkpointing": t.gradient_checkpointing,
        "cpu_offload": strategy == "offload",
        "cpu_ram_efficient_loading": False,
    }
    args: dict[str, Any] = {"fsdp": True, "fsdp_config": config}
    if t.fsdp_version == 1:
        config["reshard_after_forward"] = _FSDP1_STRATEGY[strategy]
        config["sync_module_states"] = True
        return args
    config["reshard_after_forward"] = strategy != "shard_grad_op"
    if strategy == "hybrid_shard":
        from accelerate.parallelism_config import ParallelismConfig

        per_node = local_world_size()
        nodes = max(1, world_size() // per_node)
        if nodes > 1 and per_node > 1:  # on one node (or one process per node) hybrid sharding is full sharding
            args["parallelism_config"] = ParallelismConfig(dp_replicate_size=nodes, dp_shard_size=per_node)
    return args


def context_parallel_arguments(cfg: RunConfig) -> dict[str, Any]:
    """The ``parallelism_config`` of ``train.context_parallel = N``: DeepSpeed Ulysses (ALST) through accelerate,
    the sequence of every row split over N processes, variable lengths allowed."""
    from accelerate.parallelism_config import ParallelismConfig
    from accelerate.utils import DeepSpeedSequenceParallelConfig

    n = cfg.train.context_parallel
    world = world_size()
    if world % n != 0:
        raise FtcoreError(f"{cfg.source}: train.context_parallel: {n} does not divide the {world} processes; "
                          f"launch a multiple of {n} processes (--nproc-per-node)")
    attn = cfg.model.attn if cfg.model.attn in ("flash_attention_2", "sdpa") else "sdpa"
    handler = DeepSpeedSequenceParallelConfig(sp_seq_length_is_variable=True, sp_attn_implementation=attn)
    return {"parallelism_config": ParallelismConfig(sp_backend="deepspeed", sp_size=n, sp_handler=handler,
                                                    dp_shard_size=1, dp_replicate_size=1)}


def sharding_arguments(cfg: RunConfig, model: Any) -> dict[str, Any]:
    """Every ``TrainingArguments`` key this module decides (none when neither option is set)."""
    args: dict[str, Any] = {}
    if cfg.train.fsdp:
        if model is None:
            raise FtcoreError("train.fsdp: the model is needed to choose the layers to shard")
        args.update(fsdp_arguments(cfg, model))
    if cfg.train.context_parallel > 1:
        args.update(context_parallel_arguments(cfg))
    return args


def use_fsdp_state_on_cpu() -> None:
    """Let accelerate run FSDP over gloo on a machine without accelerators (the multi-process CPU tests).

    accelerate turns FSDP on only for accelerator process groups; on CPU its state says MULTI_CPU and the FSDP
    plugin would be dropped (plain DDP, silently). The process group and the CPU device are set up as usual
    (``PartialState(cpu=True)``); the state's kind is then what a GPU run has, so the Trainer's accelerator
    prepares the model with FSDP. torch's ``fully_shard`` itself runs on CPU over gloo."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    state = PartialState(cpu=True, backend="gloo")
    if state.distributed_type == DistributedType.MULTI_CPU:
        PartialState._shared_state["distributed_type"] = DistributedType.MULTI_GPU



def tie_to_model_output(loss: Any, outputs: Any) -> Any:
    """``loss`` made to depend on the model's own output (adds zero).

    FSDP runs its root module's backward (gathering the embeddings / LM head, reducing their gradients) from hooks
    on the model's outputs. The loss-only head (:mod:`ftcore.training.loss`) takes its loss from the decoder's
    hidden states and leaves the model's logits unused, so those hooks would never fire."""
    logits = getattr(outputs, "logits", None)
    if logits is None and isinstance(outputs, dict):
        logits = outputs.get("logits")
    if logits is None or not getattr(logits, "requires_grad", False):
        return loss
    return loss + logits.reshape(-1)[:1].sum().to(loss.dtype) * 0.0


def sharded_checkpoint(trainer: Any) -> bool:
    """Whether ``trainer`` saves FSDP checkpoints as shards (``train.fsdp_state_dict = "sharded"``)."""
    if not getattr(trainer, "is_fsdp_enabled", False):
        return False
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    return "SHARDED" in str(getattr(plugin, "state_dict_type", ""))


def merged_state_dict(folder: str) -> dict[str, Any] | None:
    """The whole model's weights from a sharded FSDP checkpoint's ``pytorch_model_fsdp_0/`` (torch distributed
    checkpoint files), read in this process alone; None when the folder has none."""
    import os

    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    shards = os.path.join(folder, "pytorch_model_fsdp_0")
    if not os.path.isdir(shards):
        return None
    state: dict[str, Any] = {}
    _load_state_dict(state, storage_reader=FileSystemReader(shards), planner=_EmptyStateDictLoadPlanner(),
                     no_dist=True)
    inner = state.get("model", state)
    return dict(inner) if isinstance(inner, dict) else None


def write_whole_weights(trainer: Any, folder: str) -> bool:
    """Rank 0, a sharded FSDP run's last checkpoint: whole weights (``model.safetensors`` or the adapter) with the
    config and tokenizer, as the Trainer writes them for ``full`` state dicts — the shards stay for resuming.
    Intermediate checkpoints keep shards only (merge one with ``accelerate merge-weights``)."""
    if not sharded_checkpoint(trainer) or trainer.state.global_step < trainer.state.max_steps:
        return False
    state = merged_state_dict(folder)
    if state is None:
        return False
    trainer._save(folder, state_dict=state)
    return True


def sequence_parallel_active(trainer: Any) -> bool:
    """Whether ``trainer`` splits sequences with DeepSpeed Ulysses (its loss is then the Trainer's own: each rank
    holds a slice of the sequence's logits and ``shift_labels``, and the losses are combined over the group)."""
    pc = getattr(getattr(trainer, "accelerator", None), "parallelism_config", None)
    return bool(pc is not None and pc.sp_backend == "deepspeed" and pc.sp_enabled)


class ContextParallelCollator:
    """Batches as Ulysses takes them: ``position_ids`` in every batch (each row's own 0, 1, … when the inner
    collator pads rows; packed rows keep theirs), no ``attention_mask`` (Ulysses ignores it: causal attention plus
    labels -100 on padding), and a length divisible by the number of processes sharing a sequence (the extra
    tail is padding with labels -100 and its own position run)."""

    def __init__(self, inner: Any, parts: int, pad_token_id: int, length: int | None = None) -> None:
        self.inner, self.parts, self.pad_token_id = inner, parts, pad_token_id
        #: pad every batch to this many tokens (gloo gathers only equal shapes: CPU runs); None = variable
        self.length = length

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        batch = dict(self.inner(features))
        ids = batch["input_ids"]
        rows, width = ids.shape
        batch.pop("attention_mask", None)
        if batch.get("position_ids") is None:
            batch["position_ids"] = torch.arange(width, dtype=torch.long).expand(rows, -1).clone()
        extra = (-width) % self.parts
        if self.length is not None and width + extra < self.length:
            extra = self.length - width
        if extra:
            tail = {"input_ids": torch.full((rows, extra), self.pad_token_id, dtype=ids.dtype),
                    "labels": torch.full((rows, extra), -100, dtype=batch["labels"].dtype),
                    "position_ids": torch.arange(extra, dtype=torch.long).expand(rows, -1)}
            for key, pad in tail.items():
                batch[key] = torch.cat([batch[key], pad], dim=1)
        return batch


def context_parallel_collator(cfg: RunConfig, collator: Any, tokenizer: Any) -> Any:
    """``collator`` as Ulysses needs it when ``train.context_parallel > 1``; else ``collator`` itself."""
    if cfg.train.context_parallel <= 1:
        return collator
    from ftcore.training.environment import cpu_only

    n = cfg.train.context_parallel
    pad = getattr(tokenizer, "pad_token_id", None)
    length = None
    max_length = cfg.template.max_length or 0
    if cpu_only() and max_length > 0:  # gloo: every batch the same length
        length = -(-max_length // n) * n
    return ContextParallelCollator(collator, n, pad if pad is not None else 0, length)
