"""The sections of run.toml (one pydantic model each) and RunConfig, with the checks that involve several keys."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from ftcore.config.stages import (
    STAGE_TABLES,
    CPOOptions,
    DPOOptions,
    KTOOptions,
    ORPOOptions,
    RewardOptions,
    SimPOOptions,
)
from ftcore.config.train import EvalConfig, GenerationConfig, TrainConfig
from ftcore.config.types import MAX_BATCH, MAX_STEPS, Bool, Float, Int, Section
from ftcore.specs import DEFAULT_SYSTEM


class QuantizationConfig(Section):
    """bitsandbytes loading (QLoRA). ``bits = 0`` loads unquantized."""

    bits: Literal[0, 4, 8] = Field(
        0, description="0 = off, 4 = 4-bit (QLoRA), 8 = 8-bit (ms-swift: quantization_bit)"
    )
    quant_type: Literal["nf4", "fp4"] = Field(
        "nf4", description="4-bit data type (ms-swift: bnb_4bit_quant_type)"
    )
    double_quant: Bool = Field(True, description="nested quantization (ms-swift: bnb_4bit_use_double_quant)")
    compute_dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="4-bit compute dtype; auto = the model dtype (ms-swift: bnb_4bit_comp_dtype)"
    )


class ModelConfig(Section):
    """Which model to load and how."""

    name: str | None = Field(None, description="a registered model name (ftcore models); ms-swift: model_type")
    path: str | None = Field(
        None,
        description="a local folder with config, tokenizer and weights; with name: that model's files already on "
        "disk (ms-swift: model_cache_dir)",
    )
    repo: str | None = Field(
        None, description="a hub id, e.g. Qwen/Qwen2.5-7B-Instruct; ms-swift: model_id_or_path"
    )
    hub: Literal["auto", "huggingface", "modelscope"] = Field(
        "auto", description="where repo ids resolve: auto tries the local caches of both, then downloads"
    )
    revision: str | None = Field(
        None, description="hub revision (branch, tag or commit); ms-swift: model_revision"
    )
    cache_dir: str | None = Field(
        None, description="download cache folder (None = the hub library's own cache)"
    )
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto = bf16 where supported, fp16 on older GPUs, fp32 on CPU; ms-swift: dtype"
    )
    attn: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="attention implementation; ms-swift: use_flash_attn"
    )
    trust_remote_code: Bool | None = Field(
        None,
        description="run the model repo's own Python code (needed by remote-code models; off unless you set it)",
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
    max_length: Int | None = Field(2048, ge=-1, le=10**8, description="tokens per sample; -1 = no limit")
    truncation: Literal["left", "right", "drop"] = Field(
        "left", description="left keeps the last max_length tokens (seed); right keeps the first; drop skips"
    )
    loss_on: Literal["last", "all"] = Field("last", description="assistant turns that carry loss")
    train_on_prompt: Bool = Field(
        False, description="system and user tokens carry loss too (continued pre-training)"
    )
    parse_special_in_content: Bool = Field(
        False, description="special-token text in message content (<|im_end|> …) becomes special ids; off = plain "
        "text, so a row cannot forge turns"
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
    sample: Int | None = Field(None, ge=1, le=MAX_STEPS, description="rows to take from this dataset")
    encoding: str | None = Field(
        None, description='text encoding of local jsonl / json / csv files, e.g. "gbk"; None = UTF-8 (a BOM is fine)'
    )

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
        description="registered names, or {path=..., columns={...}} tables; ms-swift: dataset",
    )
    validation: list[str | DatasetEntry] = Field(
        default_factory=list, description="explicit validation datasets (else split off by test_ratio)"
    )
    test_ratio: Float = Field(0.01, ge=0.0, lt=1.0, description="ms-swift: dataset_test_ratio")
    sample: Int = Field(
        20000, ge=-1, le=MAX_STEPS, description="training rows at most after mixing; -1 = all; ms-swift: train_dataset_sample"
    )
    seed: Int = Field(42, ge=0, le=2**32 - 1, description="ms-swift: dataset_seed")
    hub: Literal["auto", "huggingface", "modelscope"] = Field(
        "auto",
        description="where registered datasets load from: auto tries the local caches of both, then downloads",
    )
    packing: Bool | Literal["auto"] = Field(
        "auto", description="pack samples into full rows (no padding, no cross-attention); auto = where the model "
        "supports it and the data is tokenized ahead (not lazy/streaming, no group_by_length)"
    )
    group_by_length: Bool = Field(False, description="batch similar lengths together (non-packed path)")
    num_proc: Int = Field(1, ge=1, le=1024, description="processes for preprocessing")
    lazy: Bool = Field(False, description="tokenize on the fly instead of ahead of training")
    streaming: Bool = Field(False, description="stream the source (needs train.max_steps)")
    strict: Bool = Field(False, description="any unusable row is an error instead of being skipped")
    cache_dir: str | None = Field(None, description="where tokenized datasets are cached")

    @field_validator("datasets", "validation", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """``datasets = "a,b"`` (and ``--set data.datasets=a,b``) means ``["a", "b"]``, as ms-swift's --dataset."""
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
    rank: Int = Field(8, ge=1, le=8192, description="ms-swift: lora_rank")
    alpha: Int = Field(32, ge=1, le=MAX_BATCH, description="ms-swift: lora_alpha")
    dropout: Float = Field(0.05, ge=0.0, lt=1.0, description="ms-swift: lora_dropout_p")
    targets: str | list[str] = Field(
        "auto",
        description="auto (the model's default), all (every Linear but the head) or a list; "
        "ms-swift: lora_target_modules (AUTO / ALL)",
    )
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases train (peft's bias)")
    modules_to_save: list[str] = Field(
        default_factory=list,
        description="modules trained in full and saved next to the adapter (e.g. lm_head)",
    )

    @field_validator("targets", mode="before")
    @classmethod
    def _seed_targets(cls, value: Any) -> Any:
        """ms-swift's ``AUTO`` / ``ALL`` (alone, or as a one-element list) mean ``auto`` / ``all``."""
        if isinstance(value, list) and len(value) == 1 and str(value[0]).lower() in ("auto", "all"):
            value = value[0]
        if isinstance(value, str) and value.lower() in ("auto", "all"):
            return value.lower()
        if isinstance(value, str):
            raise ValueError(f"must be 'auto', 'all' or a list of module names (got {value!r})")
        return value


class OutputConfig(Section):
    """Where a run writes."""

    dir: str = Field("output", description="ms-swift: output_dir")
    add_suffix: Bool = Field(True, description="output/<model>/v<N>-<time>/; ms-swift: add_output_dir_suffix")
    logging_dir: str | None = Field(
        None, description="TensorBoard folder; None = <run dir>/logs; ms-swift: logging_dir"
    )

    @field_validator("dir")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('must not be empty (it would write next to the run file); give a folder such as "output"')
        return value


class HubConfig(Section):
    """Pushing checkpoints to a hub while and after training."""

    push: Bool = Field(False, description="ms-swift: push_to_hub")
    hub: Literal["modelscope", "huggingface", "local"] = Field(
        "modelscope", description="where to push; local copies to hub.local_dir (tests, shared folders)"
    )
    model_id: str | None = Field(None, description="None = <model>-<tuner>; ms-swift: hub_model_id")
    private: Bool = Field(True, description="create the repo private; ms-swift: hub_private_repo")
    strategy: Literal["end", "push_best", "push_last", "checkpoint", "all_checkpoints"] = Field(
        "push_best", description="what is pushed when; ms-swift: push_hub_strategy"
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
        description='checkpoint folder, or "latest:<output dir>"; ms-swift: ckpt_dir (the CLI argument wins)',
    )
    interactive: Bool = Field(
        False, description="chat with the model instead of answering the validation set; ms-swift: eval_human"
    )
    show_samples: Int = Field(
        10, ge=0, le=10**7, description="validation rows answered and shown; ms-swift: show_dataset_sample"
    )
    stream: Bool = Field(True, description="print tokens as they are generated; ms-swift: stream")
    merge_lora: Bool = Field(
        False,
        description="merge the LoRA into the base and save <ckpt>-merged first; ms-swift: merge_lora_and_save",
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
    # the built-in stages' option tables (ftcore.config.stages); a plugin stage's table is an extra key, checked
    # against the stage's options model with the catalog's names (ftcore.validation)
    dpo: DPOOptions = Field(default_factory=DPOOptions)
    kto: KTOOptions = Field(default_factory=KTOOptions)
    orpo: ORPOOptions = Field(default_factory=ORPOOptions)
    simpo: SimPOOptions = Field(default_factory=SimPOOptions)
    cpo: CPOOptions = Field(default_factory=CPOOptions)
    rm: RewardOptions = Field(default_factory=RewardOptions)
    #: other top-level tables: a plugin stage's options (name → raw table), checked against the stage's options
    #: model once the catalog is known (ftcore.validation); written back at the top level by model_dump
    _stage_tables: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    #: the folder relative paths in the file are resolved against (not part of the file)
    base_dir: Annotated[str, Field(exclude=True)] = "."
    source: Annotated[str, Field(exclude=True)] = "run.toml"

    @model_validator(mode="wrap")
    @classmethod
    def _plugin_stage_tables(cls, data: Any, handler: Any) -> Any:
        """A top-level table that is no section and no misspelled one (``[trainer]`` stays an unknown key) is a
        plugin stage's options table, kept aside in ``stage_tables``."""
        tables = {}
        if isinstance(data, dict):
            data = dict(data)
            for key in [k for k, v in data.items() if k not in cls.model_fields and isinstance(v, dict)]:
                sections = [k for k in cls.model_fields if k not in STAGE_TABLES]
                if not difflib.get_close_matches(key, sections, n=1, cutoff=0.75):
                    tables[key] = data.pop(key)
        cfg = handler(data)
        if tables and isinstance(cfg, RunConfig):
            cfg._stage_tables = tables
        return cfg

    @model_serializer(mode="wrap")
    def _dump_stage_tables(self, handler: Any) -> Any:
        out = handler(self)
        if isinstance(out, dict):  # another stage's untouched table is left out of run.toml
            for name, model in STAGE_TABLES.items():
                if name != self.train.stage and name in out and getattr(self, name) == model():
                    del out[name]
        if self._stage_tables and isinstance(out, dict):
            out.update({k: dict(v) for k, v in self._stage_tables.items()})
        return out

    @property
    def stage_tables(self) -> dict[str, dict[str, Any]]:
        """The top-level tables that are not sections: plugin stages' options, by table name (raw values)."""
        return dict(self._stage_tables)

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> RunConfig:
        if isinstance(info.context, dict) and info.context.get("cross_checks") is False:
            return self
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
