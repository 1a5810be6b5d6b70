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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ftcore.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_SYSTEM = "you are a helpful assistant!"


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class QuantizationConfig(Section):
    """bitsandbytes loading (QLoRA). ``bits = 0`` loads unquantized."""

    bits: Literal[0, 4, 8] = Field(0, description="0 = off, 4 = 4-bit (QLoRA), 8 = 8-bit (seed: quantization_bit)")
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type (seed: bnb_4bit_quant_type)")
    double_quant: bool = Field(True, description="nested quantization (seed: bnb_4bit_use_double_quant)")
    compute_dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="4-bit compute dtype; auto = the model dtype (seed: bnb_4bit_comp_dtype)"
    )


class ModelConfig(Section):
    """Which model to load and how."""

    name: str | None = Field(None, description="a registered model name (ftcore models); seed: model_type")
    path: str | None = Field(None, description="a local folder with config, tokenizer and weights")
    repo: str | None = Field(None, description="a hub id, e.g. Qwen/Qwen2.5-7B-Instruct; seed: model_id_or_path")
    hub: Literal["auto", "huggingface", "modelscope"] = Field(
        "auto", description="where repo ids resolve: auto tries the local caches of both, then downloads"
    )
    revision: str | None = Field(None, description="hub revision (branch, tag or commit); seed: model_revision")
    cache_dir: str | None = Field(None, description="download cache folder; seed: model_cache_dir")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto = bf16 where supported, fp16 on older GPUs, fp32 on CPU; seed: dtype"
    )
    attn: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="attention implementation; seed: use_flash_attn"
    )
    trust_remote_code: bool | None = Field(
        None, description="run the model repo's own Python code; None = as the model spec says (off by default)"
    )
    device_map: str | dict[str, Any] | None = Field(
        None, description='"auto" splits one model over visible GPUs (model parallel); or an explicit map'
    )
    max_memory: dict[str, str] | None = Field(None, description='per-device budget, e.g. {0 = "20GiB"}')
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        given = [k for k in ("name", "path", "repo") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"give only one of model.name, model.path, model.repo (got {', '.join(given)})")
        return self


class TemplateConfig(Section):
    """How conversations become tokens and which tokens carry loss."""

    name: str | None = Field(None, description="a registered template, or 'jinja'; None = the model's default")
    system: str | None = Field(
        None, description=f"system prompt; None = the template's default, else {DEFAULT_SYSTEM!r}"
    )
    max_length: int | None = Field(2048, description="tokens per sample; -1 or None = no limit")
    truncation: Literal["left", "right", "drop"] = Field(
        "left", description="left keeps the last max_length tokens (seed); right keeps the first; drop skips"
    )
    loss_on: Literal["last", "all"] = Field("last", description="assistant turns that carry loss")
    train_on_prompt: bool = Field(False, description="system and user tokens carry loss too (continued pre-training)")


class DatasetEntry(Section):
    """A dataset of the run: a registered name or a local file, with optional column mapping."""

    name: str | None = Field(None, description="a registered dataset name (ftcore datasets)")
    path: str | None = Field(None, description="a local jsonl / json / csv / parquet file or folder")
    repo: str | None = Field(None, description="a hub dataset id")
    subset: str | None = None
    split: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="raw column -> query/response/system/...")
    sample: int | None = Field(None, description="rows to take from this dataset")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetEntry:
        given = [k for k in ("name", "path", "repo") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of name, path or repo")
        return self


class DataConfig(Section):
    """Which data to train on and how to prepare it."""

    datasets: list[str | DatasetEntry] = Field(
        default_factory=list, description="registered names, or {path=..., columns={...}} tables; seed: dataset"
    )
    validation: list[str | DatasetEntry] = Field(
        default_factory=list, description="explicit validation datasets (else split off by test_ratio)"
    )
    test_ratio: float = Field(0.01, ge=0.0, lt=1.0, description="seed: dataset_test_ratio")
    sample: int = Field(20000, description="training rows at most after mixing; -1 = all; seed: train_dataset_sample")
    seed: int = Field(42, description="seed: dataset_seed")
    hub: Literal["auto", "huggingface", "modelscope"] = "auto"
    packing: bool = Field(False, description="pack samples into full rows (no padding, no cross-attention)")
    group_by_length: bool = Field(False, description="batch similar lengths together (non-packed path)")
    num_proc: int = Field(1, ge=1, description="processes for preprocessing")
    lazy: bool = Field(False, description="tokenize on the fly instead of ahead of training")
    streaming: bool = Field(False, description="stream the source (needs train.max_steps)")
    strict: bool = Field(False, description="any unusable row is an error instead of being skipped")
    cache_dir: str | None = Field(None, description="where tokenized datasets are cached")


class TunerConfig(Section):
    """How the model is tuned."""

    method: Literal["lora", "qlora", "full"] = Field("lora", description="seed: sft_type")
    rank: int = Field(8, ge=1, description="seed: lora_rank")
    alpha: int = Field(32, ge=1, description="seed: lora_alpha")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="seed: lora_dropout_p")
    targets: str | list[str] = Field(
        "auto", description="auto (the model's default), all (every Linear but the head) or a list"
    )
    bias: Literal["none", "all", "lora_only"] = "none"
    modules_to_save: list[str] = Field(default_factory=list)


class TrainConfig(Section):
    """The training loop (transformers.Trainer arguments)."""

    epochs: float = Field(1, gt=0, description="seed: num_train_epochs")
    max_steps: int = Field(-1, description="> 0 overrides epochs")
    batch_size: int = Field(1, ge=1, description="per device; seed: batch_size")
    eval_batch_size: int | None = Field(None, ge=1, description="None = batch_size")
    grad_accum: int = Field(16, ge=1, description="seed: gradient_accumulation_steps")
    lr: float | Literal["auto"] = Field("auto", description="auto = 1e-4 for LoRA, 2e-5 for full")
    weight_decay: float = Field(0.01, ge=0.0)
    max_grad_norm: float = Field(1.0, ge=0.0)
    scheduler: str = Field("cosine", description="seed: lr_scheduler_type")
    warmup_ratio: float = Field(0.05, ge=0.0, le=1.0)
    optim: str = "adamw_torch"
    eval_steps: int = Field(50, ge=1)
    save_steps: int | None = Field(None, ge=1, description="None = eval_steps")
    logging_steps: int = Field(5, ge=1)
    save_total_limit: int | None = Field(2, description="checkpoints kept (best and last survive); -1 = all")
    only_save_model: bool | None = Field(None, description="None = true for full or DeepSpeed runs")
    seed: int = 42
    dataloader_num_workers: int = Field(1, ge=0)
    gradient_checkpointing: bool = False
    resume_from_checkpoint: str | None = Field(None, description='a checkpoint path or "latest"')
    deepspeed: str | None = Field(None, description="zero2 | zero3 | zero2-offload | zero3-offload | config.json")
    ddp_backend: Literal["nccl", "gloo", "mpi", "ccl"] | None = None
    test_oom_error: bool = Field(False, description="train longest samples first so an OOM shows early")
    loss_only_head: bool = Field(True, description="apply the LM head only where labels carry loss")
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])


class GenerationConfig(Section):
    """Generation settings (inference and generate-based evaluation)."""

    max_new_tokens: int = Field(2048, ge=1)
    do_sample: bool = True
    temperature: float = Field(0.9, ge=0.0)
    top_k: int = Field(20, ge=0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    repetition_penalty: float = Field(1.05, gt=0.0)


class EvalConfig(Section):
    """Evaluation during and after training."""

    predict_with_generate: bool = Field(False, description="score ROUGE-L / BLEU-4 on generated answers")
    metric: str | None = Field(None, description="metric choosing the best checkpoint; None = loss or rouge-l")
    overwrite_generation_config: bool = False


class OutputConfig(Section):
    """Where a run writes."""

    dir: str = Field("output", description="seed: output_dir")
    add_suffix: bool = Field(True, description="output/<model>/v<N>-<time>/; seed: add_output_dir_suffix")
    logging_dir: str | None = None


class HubConfig(Section):
    """Pushing checkpoints to a hub while and after training."""

    push: bool = Field(False, description="seed: push_to_hub")
    hub: Literal["modelscope", "huggingface", "local"] = "modelscope"
    model_id: str | None = Field(None, description="None = <model>-<tuner>; seed: hub_model_id")
    private: bool = True
    strategy: Literal["end", "push_best", "push_last", "checkpoint", "all_checkpoints"] = "push_best"
    token: str | None = Field(None, description="None = MODELSCOPE_API_TOKEN / HF_TOKEN from the environment")
    local_dir: str | None = Field(None, description="target folder for hub = 'local'")


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
    """Problems that involve several keys; each as ``key: message``."""
    out = []
    if cfg.tuner.method == "full" and cfg.model.quantization.bits:
        out.append("tuner.method: full fine-tuning cannot train a quantized model (set model.quantization.bits = 0 "
                   "or use method = 'qlora')")
    if cfg.tuner.method == "qlora" and not cfg.model.quantization.bits:
        cfg.model.quantization.bits = 4
    if cfg.train.deepspeed and cfg.model.device_map not in (None, "none"):
        out.append("train.deepspeed: DeepSpeed and model.device_map (model parallel) cannot be combined")
    if cfg.data.streaming and cfg.train.max_steps <= 0:
        out.append("data.streaming: a streamed dataset has no length; set train.max_steps > 0")
    if cfg.data.packing and cfg.data.group_by_length:
        out.append("data.group_by_length: has no effect with data.packing = true; set one of them")
    if isinstance(cfg.tuner.targets, str) and cfg.tuner.targets not in ("auto", "all"):
        out.append(f"tuner.targets: must be 'auto', 'all' or a list of module names (got {cfg.tuner.targets!r})")
    if cfg.template.max_length is not None and cfg.template.max_length == 0:
        out.append("template.max_length: must be positive, or -1 for no limit")
    return out


# --------------------------------------------------------------------------------------------------
# Loading and error rendering


def _all_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = RunConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return None
    return model


def _format_errors(source: str, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-after", "str"))))
        key = ".".join(str(p) for p in loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = _section_model(loc)
            close = difflib.get_close_matches(str(loc[-1]), _all_keys(parent), n=1) if parent else []
            msg = "unknown key" + (f" (did you mean {'.'.join(map(str, loc[:-1] + (close[0],)))}?)" if close else "")
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if "\n" in msg:  # cross checks carry their own keys
            lines.extend(f"{source}: {m}" for m in msg.split("\n"))
            continue
        if ": " in msg and not key and msg.split(":", 1)[0].count(".") == 1:
            lines.append(f"{source}: {msg}")
            continue
        got = err.get("input")
        if err["type"] not in ("extra_forbidden", "missing", "value_error") and not isinstance(got, (dict, list)):
            msg = f"{msg} (got {got!r})"
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
    for key in ("model", "template", "data"):  # short forms: model = "qwen2.5-7b", template = "chatml"
        if isinstance(data.get(key), str):
            data[key] = {"name": data[key]}
    try:
        cfg = RunConfig.model_validate({**data, "base_dir": base_dir, "source": source})
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None
    return cfg


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
    import tomli_w

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [strip(v) for v in value if v is not None]
        return value

    return tomli_w.dumps(strip(cfg.model_dump(mode="json")))


def json_schema() -> dict[str, Any]:
    """JSON Schema of run.toml (``ftcore config schema``), for editors."""
    schema = RunConfig.model_json_schema()
    props = schema.get("properties", {})
    props.pop("base_dir", None)
    props.pop("source", None)
    schema["title"] = "ftcore run.toml"
    return schema
