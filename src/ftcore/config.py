"""RunConfig: everything a run.toml can say, its loading from TOML, ``--set`` overrides and error rendering.

Every problem of a file is reported at once, one line each, as ``run.toml: train.lr: <message>``.
Defaults follow the seed (ms-swift's sft.sh / infer.sh) unless docs/config.md argues for a better one.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ftcore.errors import ConfigError
from ftcore.specs import DEFAULT_SYSTEM

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: DeepSpeed configurations ftcore ships (``train.deepspeed = "zero2"``); anything else is a path to a .json file
DEEPSPEED_PRESETS = ("zero2", "zero3", "zero2-offload", "zero3-offload")


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class QuantizationConfig(Section):
    """bitsandbytes loading (QLoRA). ``bits = 0`` loads unquantized."""

    bits: Literal[0, 4, 8] = Field(
        0, description="0 = off, 4 = 4-bit (QLoRA), 8 = 8-bit (seed: quantization_bit)"
    )
    quant_type: Literal["nf4", "fp4"] = Field(
        "nf4", description="4-bit data type (seed: bnb_4bit_quant_type)"
    )
    double_quant: bool = Field(True, description="nested quantization (seed: bnb_4bit_use_double_quant)")
    compute_dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="4-bit compute dtype; auto = the model dtype (seed: bnb_4bit_comp_dtype)"
    )


class ModelConfig(Section):
    """Which model to load and how."""

    name: str | None = Field(None, description="a registered model name (ftcore models); seed: model_type")
    path: str | None = Field(
        None,
        description="a local folder with config, tokenizer and weights; with name: that model's files already on "
        "disk (seed: model_cache_dir)",
    )
    repo: str | None = Field(
        None, description="a hub id, e.g. Qwen/Qwen2.5-7B-Instruct; seed: model_id_or_path"
    )
    hub: Literal["auto", "huggingface", "modelscope"] = Field(
        "auto", description="where repo ids resolve: auto tries the local caches of both, then downloads"
    )
    revision: str | None = Field(
        None, description="hub revision (branch, tag or commit); seed: model_revision"
    )
    cache_dir: str | None = Field(
        None, description="download cache folder (None = the hub library's own cache)"
    )
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto = bf16 where supported, fp16 on older GPUs, fp32 on CPU; seed: dtype"
    )
    attn: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="attention implementation; seed: use_flash_attn"
    )
    trust_remote_code: bool | None = Field(
        None,
        description="run the model repo's own Python code; None = as the model spec says (off by default)",
    )
    device_map: str | dict[str, Any] | None = Field(
        None, description='"auto" splits one model over visible GPUs (model parallel); or an explicit map'
    )
    max_memory: dict[str, str] | None = Field(None, description='per-device budget, e.g. {0 = "20GiB"}')
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if self.path and self.repo:
            raise ValueError(
                "model.repo: give model.path (a local folder) or model.repo (a hub id), not both"
            )
        return self


class TemplateConfig(Section):
    """How conversations become tokens and which tokens carry loss."""

    name: str | None = Field(
        None, description="a registered template, or 'jinja'; None = the model's default"
    )
    system: str | None = Field(
        None, description=f"system prompt; None = the template's default, else {DEFAULT_SYSTEM!r}"
    )
    max_length: int | None = Field(2048, ge=-1, description="tokens per sample; -1 = no limit")
    truncation: Literal["left", "right", "drop"] = Field(
        "left", description="left keeps the last max_length tokens (seed); right keeps the first; drop skips"
    )
    loss_on: Literal["last", "all"] = Field("last", description="assistant turns that carry loss")
    train_on_prompt: bool = Field(
        False, description="system and user tokens carry loss too (continued pre-training)"
    )


class DatasetEntry(Section):
    """A dataset of the run: a registered name or a local file, with optional column mapping."""

    name: str | None = Field(None, description="a registered dataset name (ftcore datasets)")
    path: str | None = Field(None, description="a local jsonl / json / csv / parquet file or folder")
    repo: str | None = Field(None, description="a hub dataset id")
    subset: str | None = None
    split: str | None = None
    columns: dict[str, str] = Field(
        default_factory=dict, description="raw column -> query/response/system/..."
    )
    sample: int | None = Field(None, ge=1, description="rows to take from this dataset")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetEntry:
        given = [k for k in ("name", "path", "repo") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of name, path or repo" + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class DataConfig(Section):
    """Which data to train on and how to prepare it."""

    datasets: list[str | DatasetEntry] = Field(
        default_factory=list,
        description="registered names, or {path=..., columns={...}} tables; seed: dataset",
    )
    validation: list[str | DatasetEntry] = Field(
        default_factory=list, description="explicit validation datasets (else split off by test_ratio)"
    )
    test_ratio: float = Field(0.01, ge=0.0, lt=1.0, description="seed: dataset_test_ratio")
    sample: int = Field(
        20000, ge=-1, description="training rows at most after mixing; -1 = all; seed: train_dataset_sample"
    )
    seed: int = Field(42, description="seed: dataset_seed")
    hub: Literal["auto", "huggingface", "modelscope"] = Field(
        "auto",
        description="where registered datasets load from: auto tries the local caches of both, then downloads",
    )
    packing: bool | Literal["auto"] = Field(
        "auto", description="pack samples into full rows (no padding, no cross-attention); auto = where the model "
        "supports it and the data is tokenized ahead (not lazy/streaming, no group_by_length)"
    )
    group_by_length: bool = Field(False, description="batch similar lengths together (non-packed path)")
    num_proc: int = Field(1, ge=1, description="processes for preprocessing")
    lazy: bool = Field(False, description="tokenize on the fly instead of ahead of training")
    streaming: bool = Field(False, description="stream the source (needs train.max_steps)")
    strict: bool = Field(False, description="any unusable row is an error instead of being skipped")
    cache_dir: str | None = Field(None, description="where tokenized datasets are cached")

    @field_validator("datasets", "validation", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """``datasets = "a,b"`` (and ``--set data.datasets=a,b``) means ``["a", "b"]``, as the seed's --dataset."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class TunerConfig(Section):
    """How the model is tuned. ``method`` is a registered tuning method (``ftcore tuners``); the flat keys below
    are LoRA's (other methods ignore them), and any other key is an option of the method, checked by the method's
    options model when the run is validated."""

    model_config = ConfigDict(extra="allow", validate_assignment=True, populate_by_name=True)

    method: str = Field(
        "lora", description="a registered tuning method: lora, qlora, full or a plugin's (ftcore tuners); "
        "ms-swift: sft_type"
    )
    rank: int = Field(8, ge=1, description="seed: lora_rank")
    alpha: int = Field(32, ge=1, description="seed: lora_alpha")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="seed: lora_dropout_p")
    targets: str | list[str] = Field(
        "auto",
        description="auto (the model's default), all (every Linear but the head) or a list; "
        "seed: lora_target_modules (AUTO / ALL)",
    )
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases train (peft's bias)")
    modules_to_save: list[str] = Field(
        default_factory=list,
        description="modules trained in full and saved next to the adapter (e.g. lm_head)",
    )

    @field_validator("targets", mode="before")
    @classmethod
    def _seed_targets(cls, value: Any) -> Any:
        """The seed's ``AUTO`` / ``ALL`` (alone, or as a one-element list) mean ``auto`` / ``all``."""
        if isinstance(value, list) and len(value) == 1 and str(value[0]).lower() in ("auto", "all"):
            value = value[0]
        if isinstance(value, str) and value.lower() in ("auto", "all"):
            return value.lower()
        if isinstance(value, str):
            raise ValueError(f"must be 'auto', 'all' or a list of module names (got {value!r})")
        return value


class TrainConfig(Section):
    """The training loop (transformers.Trainer arguments)."""

    epochs: float = Field(1, gt=0, description="seed: num_train_epochs")
    max_steps: int = Field(-1, ge=-1, description="> 0 overrides epochs; -1 = train for epochs")
    batch_size: int = Field(1, ge=1, description="per device; seed: batch_size")
    eval_batch_size: int | None = Field(
        None, ge=1, description="None = batch_size (1 with eval.predict_with_generate); seed: eval_batch_size"
    )
    grad_accum: int = Field(16, ge=1, description="seed: gradient_accumulation_steps")
    lr: Annotated[float, Field(gt=0)] | Literal["auto"] = Field(
        "auto", description="auto = 1e-4 for LoRA / QLoRA, 2e-5 for full; seed: learning_rate"
    )
    weight_decay: float = Field(0.01, ge=0.0, description="seed: weight_decay")
    max_grad_norm: float = Field(1.0, ge=0.0, description="gradient clipping; seed: max_grad_norm")
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
    ] = Field("cosine", description="transformers' lr_scheduler_type; seed: lr_scheduler_type")
    warmup_ratio: float = Field(0.05, ge=0.0, le=1.0, description="seed: warmup_ratio")
    optim: str = Field("adamw_torch", description="transformers' optim name; seed: optim")
    eval_steps: int = Field(50, ge=1, description="evaluate (and pick the best checkpoint) every N steps")
    save_steps: int | None = Field(None, ge=1, description="None = eval_steps")
    logging_steps: int = Field(5, ge=1, description="seed: logging_steps")
    save_total_limit: int | None = Field(
        2, ge=-1, description="checkpoints kept (best and last survive); -1 = all"
    )
    only_save_model: bool | None = Field(None, description="None = true for full or DeepSpeed runs")
    seed: int = Field(42, description="global seed (+ rank under DDP); seed: seed")
    dataloader_num_workers: int = Field(1, ge=0, description="seed: dataloader_num_workers")
    gradient_checkpointing: bool = Field(
        False, description="trade compute for memory; seed: gradient_checkpointing"
    )
    resume_from_checkpoint: str | None = Field(None, description='a checkpoint path or "latest"')
    deepspeed: str | None = Field(
        None, description="zero2 | zero3 | zero2-offload | zero3-offload, or a DeepSpeed config .json file"
    )
    ddp_backend: Literal["nccl", "gloo", "mpi", "ccl"] | None = Field(
        None, description="None = nccl on CUDA, gloo on CPU; seed: ddp_backend"
    )
    test_oom_error: bool = Field(False, description="train longest samples first so an OOM shows early")
    loss_only_head: bool = Field(True, description="apply the LM head only where labels carry loss")
    report_to: list[str] = Field(
        default_factory=lambda: ["tensorboard"], description="transformers integrations that receive the logs"
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

    max_new_tokens: int = Field(2048, ge=1, description="seed: max_new_tokens")
    do_sample: bool = Field(True, description="false = greedy; seed: do_sample")
    temperature: float = Field(0.9, ge=0.0, description="seed: temperature")
    top_k: int = Field(20, ge=0, description="seed: top_k")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="seed: top_p")
    repetition_penalty: float = Field(1.05, gt=0.0, description="seed: repetition_penalty")


class EvalConfig(Section):
    """Evaluation during and after training."""

    predict_with_generate: bool = Field(False, description="score ROUGE-L / BLEU-4 on generated answers")
    metric: str | None = Field(
        None, description="metric choosing the best checkpoint; None = loss or rouge-l"
    )
    overwrite_generation_config: bool = Field(
        False, description="write [generation] into the checkpoint's generation_config.json; seed: same name"
    )


class OutputConfig(Section):
    """Where a run writes."""

    dir: str = Field("output", description="seed: output_dir")
    add_suffix: bool = Field(True, description="output/<model>/v<N>-<time>/; seed: add_output_dir_suffix")
    logging_dir: str | None = Field(
        None, description="TensorBoard folder; None = <run dir>/logs; seed: logging_dir"
    )


class HubConfig(Section):
    """Pushing checkpoints to a hub while and after training."""

    push: bool = Field(False, description="seed: push_to_hub")
    hub: Literal["modelscope", "huggingface", "local"] = Field(
        "modelscope", description="where to push; local copies to hub.local_dir (tests, shared folders)"
    )
    model_id: str | None = Field(None, description="None = <model>-<tuner>; seed: hub_model_id")
    private: bool = Field(True, description="create the repo private; seed: hub_private_repo")
    strategy: Literal["end", "push_best", "push_last", "checkpoint", "all_checkpoints"] = Field(
        "push_best", description="what is pushed when; seed: push_hub_strategy"
    )
    token: str | None = Field(
        None,
        exclude=True,  # never written anywhere: not by config_to_toml, model_dump, the run's run.toml, logs
        repr=False,
        description="None = MODELSCOPE_API_TOKEN / HF_TOKEN from the environment; never saved or printed",
    )
    local_dir: str | None = Field(None, description="target folder for hub = 'local'")


class InferConfig(Section):
    """``ftcore infer`` defaults (its command-line options override them)."""

    checkpoint: str | None = Field(
        None,
        description='checkpoint folder, or "latest:<output dir>"; seed: ckpt_dir (the CLI argument wins)',
    )
    interactive: bool = Field(
        False, description="chat with the model instead of answering the validation set; seed: eval_human"
    )
    show_samples: int = Field(
        10, ge=0, description="validation rows answered and shown; seed: show_dataset_sample"
    )
    stream: bool = Field(True, description="print tokens as they are generated; seed: stream")
    merge_lora: bool = Field(
        False,
        description="merge the LoRA into the base and save <ckpt>-merged first; seed: merge_lora_and_save",
    )


class RunConfig(Section):
    """A whole run.toml."""

    plugins: list[str] = Field(default_factory=list, description="local plugin files, relative to run.toml")
    model: ModelConfig = Field(default_factory=ModelConfig)
    template: TemplateConfig = Field(default_factory=TemplateConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    tuner: TunerConfig = Field(default_factory=TunerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    hub: HubConfig = Field(default_factory=HubConfig)
    infer: InferConfig = Field(default_factory=InferConfig)

    #: the folder relative paths in the file are resolved against (not part of the file)
    base_dir: Annotated[str, Field(exclude=True)] = "."
    source: Annotated[str, Field(exclude=True)] = "run.toml"

    @model_validator(mode="after")
    def _cross_checks(self) -> RunConfig:
        problems = cross_check(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def resolve_path(self, value: str) -> str:
        """``value`` relative to the run file's folder (``~`` expanded); absolute paths unchanged."""
        path = Path(os.path.expanduser(value))
        if not path.is_absolute():
            path = Path(self.base_dir) / path
        return str(path)


def cross_check(cfg: RunConfig) -> list[str]:
    """Problems that involve several keys; each as ``key: message``. Reads ``cfg``, never changes it."""
    out = []
    quantized = cfg.model.quantization.bits != 0
    if cfg.tuner.method == "full" and quantized:
        out.append(
            "tuner.method: full fine-tuning cannot train a quantized model "
            "(set model.quantization.bits = 0, or use method = 'qlora')"
        )
    if cfg.tuner.method == "qlora":
        quantized = True  # the run loads the model in 4 bits unless the file says 8 (ResolvedRun)
    if cfg.train.deepspeed and cfg.model.device_map not in (None, "none"):
        out.append(
            "train.deepspeed: DeepSpeed cannot be combined with model.device_map (model parallel); remove one of them"
        )
    if cfg.data.streaming and cfg.train.max_steps <= 0:
        out.append("data.streaming: a streamed dataset has no length; set train.max_steps > 0")
    if cfg.data.packing is True and cfg.data.group_by_length:
        out.append("data.group_by_length: has no effect with data.packing = true; set only one of them")
    if cfg.data.packing is True and cfg.data.lazy:
        out.append("data.lazy: packing needs every sample tokenized ahead of training; set data.lazy = false")
    if cfg.template.max_length == 0:
        out.append("template.max_length: must be a positive number of tokens, or -1 for no limit")
    if cfg.train.max_steps == 0:
        out.append("train.max_steps: must be > 0, or -1 to train for train.epochs")
    if cfg.train.save_total_limit == 0:
        out.append("train.save_total_limit: must be >= 1, or -1 to keep every checkpoint")
    if cfg.data.sample == 0:
        out.append("data.sample: must be > 0, or -1 to use every row")
    if cfg.hub.push and cfg.hub.hub == "local" and not cfg.hub.local_dir:
        out.append("hub.local_dir: hub = 'local' pushes to a folder; set hub.local_dir")
    if quantized and cfg.train.ddp_backend == "gloo":
        out.append(
            "train.ddp_backend: gloo cannot run DDP over a bitsandbytes-quantized model; "
            "leave ddp_backend unset (nccl on GPUs) or set model.quantization.bits = 0"
        )
    if cfg.train.test_oom_error and (cfg.data.lazy or cfg.data.streaming):
        out.append(
            "train.test_oom_error: sorting longest-first needs every sample tokenized ahead of training; "
            "set data.lazy = false and data.streaming = false"
        )
    return out


#: Every argument of the seed's sft.sh (``SftArguments``) and infer.sh (``InferArguments``) and the run.toml key
#: that expresses it; None where ftcore needs no key (the reason is in docs/config.md). Used for "did you mean"
#: hints when a seed user writes a seed name, and checked against docs/config.md by the tests.
SEED_ARGUMENTS: dict[str, str | None] = {
    "model_type": "model.name",
    "model_id_or_path": "model.repo",
    "model_revision": "model.revision",
    "model_cache_dir": "model.path",
    "sft_type": "tuner.method",
    "tuner_backend": None,
    "template_type": "template.name",
    "output_dir": "output.dir",
    "add_output_dir_suffix": "output.add_suffix",
    "ddp_backend": "train.ddp_backend",
    "seed": "train.seed",
    "resume_from_checkpoint": "train.resume_from_checkpoint",
    "dtype": "model.dtype",
    "dataset": "data.datasets",
    "dataset_seed": "data.seed",
    "dataset_test_ratio": "data.test_ratio",
    "train_dataset_sample": "data.sample",
    "system": "template.system",
    "max_length": "template.max_length",
    "quantization_bit": "model.quantization.bits",
    "bnb_4bit_comp_dtype": "model.quantization.compute_dtype",
    "bnb_4bit_quant_type": "model.quantization.quant_type",
    "bnb_4bit_use_double_quant": "model.quantization.double_quant",
    "lora_target_modules": "tuner.targets",
    "lora_rank": "tuner.rank",
    "lora_alpha": "tuner.alpha",
    "lora_dropout_p": "tuner.dropout",
    "gradient_checkpointing": "train.gradient_checkpointing",
    "deepspeed_config_path": "train.deepspeed",
    "batch_size": "train.batch_size",
    "eval_batch_size": "train.eval_batch_size",
    "num_train_epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "optim": "train.optim",
    "learning_rate": "train.lr",
    "weight_decay": "train.weight_decay",
    "gradient_accumulation_steps": "train.grad_accum",
    "max_grad_norm": "train.max_grad_norm",
    "predict_with_generate": "eval.predict_with_generate",
    "lr_scheduler_type": "train.scheduler",
    "warmup_ratio": "train.warmup_ratio",
    "eval_steps": "train.eval_steps",
    "save_steps": "train.save_steps",
    "only_save_model": "train.only_save_model",
    "save_total_limit": "train.save_total_limit",
    "logging_steps": "train.logging_steps",
    "dataloader_num_workers": "train.dataloader_num_workers",
    "push_to_hub": "hub.push",
    "hub_model_id": "hub.model_id",
    "hub_private_repo": "hub.private",
    "push_hub_strategy": "hub.strategy",
    "hub_token": "hub.token",
    "test_oom_error": "train.test_oom_error",
    "use_flash_attn": "model.attn",
    "ignore_args_error": None,
    "logging_dir": "output.logging_dir",
    "max_new_tokens": "generation.max_new_tokens",
    "do_sample": "generation.do_sample",
    "temperature": "generation.temperature",
    "top_k": "generation.top_k",
    "top_p": "generation.top_p",
    "repetition_penalty": "generation.repetition_penalty",
    # infer.sh only
    "ckpt_dir": "infer.checkpoint",
    "eval_human": "infer.interactive",
    "show_dataset_sample": "infer.show_samples",
    "stream": "infer.stream",
    "merge_lora_and_save": "infer.merge_lora",
    "overwrite_generation_config": "eval.overwrite_generation_config",
}


# --------------------------------------------------------------------------------------------------
# Loading and error rendering


def _sections() -> dict[str, type[BaseModel]]:
    """Every section class by class name (pydantic names union branches after them in error locations)."""
    out: dict[str, type[BaseModel]] = {}
    todo: list[type[BaseModel]] = [Section]
    while todo:
        cls = todo.pop()
        out[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return out


def _is_branch_tag(part: Any) -> bool:
    """Whether a pydantic location part names a union branch (``float``, ``literal['auto']``, ``DatasetEntry``)."""
    if not isinstance(part, str):
        return False
    return (
        "[" in part
        or part in ("str", "int", "float", "bool", "list", "dict")
        or part[:1].isupper()
        or part.startswith(("constrained-", "function-", "lax-", "json-", "tagged-", "nullable", "default"))
    )


def _branch_model(part: Any, sections: dict[str, type[BaseModel]]) -> type[BaseModel] | None:
    """The section a union-branch tag names: ``DatasetEntry`` or ``function-after[_one_source(), DatasetEntry]``."""
    if not isinstance(part, str):
        return None
    name = part.rstrip("]").split("[")[-1].split(",")[-1].strip()
    return sections.get(name)


def _render_key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(raw_loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section class holding the last key of ``raw_loc`` (union tags and list indexes followed)."""
    sections = _sections()
    model: type[BaseModel] | None = RunConfig
    for part in raw_loc[:-1]:
        if isinstance(part, int):
            continue
        branch = _branch_model(part, sections)
        if branch is not None:
            model = branch
            continue
        if model is None:
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            if _is_branch_tag(part):
                continue
            return None
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model


def _all_key_paths() -> dict[str, list[str]]:
    """last key name -> every full key path with that name (``rank`` -> ``["tuner.rank"]``)."""
    out: dict[str, list[str]] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if field.exclude:
                continue
            path = f"{prefix}{name}"
            out.setdefault(name, []).append(path)
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{path}.")

    walk(RunConfig, "")
    return out


def _key_paths() -> set[str]:
    return {path for paths in _all_key_paths().values() for path in paths}


def _unknown_key_hint(raw_loc: tuple[Any, ...], clean_loc: tuple[Any, ...]) -> str:
    key = str(clean_loc[-1])
    parent = _model_at(raw_loc)
    prefix = _render_key(clean_loc[:-1])
    prefix = f"{prefix}." if prefix else ""
    seed = SEED_ARGUMENTS.get(key)
    if seed:
        if seed.rsplit(".", 1)[-1] == key:
            return f" (did you mean {seed}?)"
        return f" (did you mean {seed}? '{key}' is the seed's name for it)"
    if parent is not None:
        keys = [k for k, f in parent.model_fields.items() if not f.exclude]
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
        if close:
            return f" (did you mean {prefix}{close[0]}?)"
    elsewhere = _all_key_paths().get(key, [])
    if elsewhere:
        return f" (did you mean {' or '.join(elsewhere)}?)"
    if parent is not None:
        return f" (known keys: {', '.join(k for k, f in parent.model_fields.items() if not f.exclude)})"
    return ""


def unknown_key_hint(path: str) -> str:
    """The `` (did you mean …?)`` hint for an unknown dotted key such as ``tuner.lr``; "" when there is none."""
    loc = tuple(path.split("."))
    hint = _unknown_key_hint(loc, loc)
    return "" if hint.startswith(" (known keys:") else hint


#: pydantic error type -> what the value must be, for messages that read "must be a number (got 'fast')"
_EXPECTED = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _expected(err: Any) -> str | None:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "literal_error":
        return str(ctx.get("expected", "one of the listed values"))
    for bound, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if bound in ctx and kind.startswith(("greater", "less")):
            limit = ctx[bound]
            return f"{op} {int(limit) if isinstance(limit, float) and limit.is_integer() else limit}"
    return None


def _got(err: Any) -> str:
    value = err.get("input")
    if isinstance(value, (dict, list)) or err["type"] in ("missing", "extra_forbidden"):
        return ""
    return f" (got {value!r})"


def _message(err: Any) -> str:
    expected = _expected(err)
    if expected is not None:
        return f"must be {expected}{_got(err)}"
    if err["type"] == "missing":
        return "is required"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return (msg[:1].lower() + msg[1:]) + _got(err)


def error_message(err: Any) -> str:
    """How a run.toml error reads after ``<key>: `` (``must be >= 1 (got 0)``) for one pydantic error dict."""
    return _message(err)


def _format_errors(source: str, exc: ValidationError) -> list[str]:
    """One line per problem, ``<source>: <key>: <message>``; errors of one key's union branches merged."""
    by_key: dict[str, list[tuple[tuple[Any, ...], Any]]] = {}
    for err in exc.errors():
        raw = tuple(err["loc"])
        clean = tuple(p for p in raw if not _is_branch_tag(p))
        by_key.setdefault(_render_key(clean), []).append((clean, err))
    keys = list(by_key)
    lines: list[str] = []
    for key, errs in by_key.items():
        # a table given for a ``str | table`` union fails the str branch too: keep the table's own problems
        deeper = any(other != key and other.startswith(key) for other in keys)
        kept = [
            (c, e) for c, e in errs if not (isinstance(e.get("input"), dict) and e["type"] == "string_type")
        ]
        if not kept and deeper:
            continue
        errs = kept or errs
        if len(errs) > 1 and all(_expected(e) for _, e in errs):  # one value failing every branch of a union
            what = " or ".join(dict.fromkeys(_expected(e) for _, e in errs))  # type: ignore[misc]
            lines.append(f"{source}: {key}: must be {what}{_got(errs[0][1])}")
            continue
        for clean, err in errs:
            if err["type"] == "extra_forbidden":
                lines.append(f"{source}: {key}: unknown key{_unknown_key_hint(tuple(err['loc']), clean)}")
                continue
            msg = _message(err)
            if err["type"] == "value_error" and (not key or "\n" in msg):  # cross checks carry their own keys
                lines.extend(f"{source}: {m}" for m in msg.split("\n"))
                continue
            if err["type"] == "value_error" and msg.split(": ", 1)[0] in _key_paths():
                lines.append(f"{source}: {msg}")  # a section check naming its own key (model.repo: ...)
                continue
            lines.append(f"{source}: {key}: {msg}" if key else f"{source}: {msg}")
    return lines


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` → (["section", "key"], value parsed as a TOML value, else as a string)."""
    if "=" not in text:
        raise ConfigError([f"--set {text}: expected section.key=value"])
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError([f"--set {text}: {part} is not a section"])
        node[path[-1]] = value
    return data


def config_from_dict(data: dict[str, Any], source: str = "run.toml", base_dir: str = ".") -> RunConfig:
    """Validate a dict (as read from TOML); raises :class:`ConfigError` listing every problem."""
    data = {k: v for k, v in data.items() if k not in ("base_dir", "source")}
    for key in ("model", "template"):  # short forms: model = "qwen2.5-7b", template = "chatml"
        if isinstance(data.get(key), str):
            data[key] = {"name": data[key]}
    if isinstance(data.get("data"), (str, list)):  # data = ["a", "b"]
        data["data"] = {"datasets": data["data"]}
    try:
        cfg = RunConfig.model_validate({**data, "base_dir": base_dir, "source": source})
    except ValidationError as exc:
        problems = _format_errors(source, exc)
        problems.extend(p for p in _cross_problems_of_rest(data, exc, source) if p not in problems)
        raise ConfigError(problems) from None
    return cfg


def _cross_problems_of_rest(data: dict[str, Any], exc: ValidationError, source: str) -> list[str]:
    """Cross-key problems among the values that are valid, so one pass reports those too."""
    import copy

    rest = copy.deepcopy(data)
    for err in exc.errors():
        loc = [p for p in err["loc"] if not _is_branch_tag(p)]
        node: Any = rest
        for part in loc[:-1]:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                node = None
                break
        if not loc:
            return []  # a cross-key problem already: nothing more to learn
        if isinstance(node, dict):
            node.pop(loc[-1], None)
        elif isinstance(node, list) and isinstance(loc[-1], int) and loc[-1] < len(node):
            node[loc[-1]] = None  # keep indexes stable; the None is dropped below
    try:
        RunConfig.model_validate(_drop_none_items(rest))
    except ValidationError as again:
        if all(not e["loc"] for e in again.errors()):
            return _format_errors(source, again)
    return []


def _drop_none_items(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none_items(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_none_items(v) for v in value if v is not None]
    return value


def load_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> RunConfig:
    """Read and validate a run.toml; ``overrides`` are ``section.key=value`` strings (``--set``)."""
    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise ConfigError([f"{source}: file not found"])
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not a UTF-8 text file"]) from None
    data = apply_overrides(data, overrides or [])
    return config_from_dict(data, source=source, base_dir=str(p.parent.resolve()))


def config_to_toml(cfg: RunConfig) -> str:
    """The fully resolved config as TOML (None values omitted: TOML has no null)."""
    return dict_to_toml(cfg.model_dump(mode="json"))


def dict_to_toml(data: dict[str, Any]) -> str:
    """A run config's dict as TOML text (None values omitted: TOML has no null)."""
    import tomli_w

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [strip(v) for v in value if v is not None]
        return value

    return tomli_w.dumps(strip(data))


def json_schema() -> dict[str, Any]:
    """JSON Schema of run.toml (``ftcore config schema``), for editors."""
    schema = RunConfig.model_json_schema()
    props = schema.get("properties", {})
    props.pop("base_dir", None)
    props.pop("source", None)
    schema["title"] = "ftcore run.toml"
    return schema
