"""RunConfig: everything a run.toml can say, its loading from TOML, ``--set`` overrides and error rendering.

Every problem of a file is reported at once, one line each, as ``run.toml: train.lr: <message>``.
Defaults follow ms-swift's sft.sh / infer.sh unless docs/config.md argues for a better one.

    sections   the section models (ModelConfig, DataConfig …) and RunConfig, with the cross-key checks
    ms_swift   ms-swift's argument names → run.toml keys (did-you-mean hints, docs/config.md's table)
    messages   pydantic errors → one line each, with did-you-mean hints
    files      TOML → RunConfig, --set overrides, RunConfig → TOML, the JSON schema
"""

from __future__ import annotations

from ftcore.config.files import (
    apply_overrides,
    config_from_dict,
    config_to_toml,
    config_without_errors,
    dict_to_toml,
    json_schema,
    load_config,
    parse_override,
    read_config_data,
)
from ftcore.config.messages import all_key_paths, error_message, format_errors, unknown_key_hint
from ftcore.config.ms_swift import SEED_ARGUMENTS
from ftcore.config.sections import (
    DataConfig,
    DatasetEntry,
    HubConfig,
    InferConfig,
    ModelConfig,
    OutputConfig,
    QuantizationConfig,
    RunConfig,
    TemplateConfig,
    TunerConfig,
    cross_check,
)
from ftcore.config.train import DEEPSPEED_PRESETS, EvalConfig, GenerationConfig, TrainConfig
from ftcore.config.types import Section
from ftcore.specs import DEFAULT_SYSTEM

__all__ = [
    "DEEPSPEED_PRESETS",
    "DEFAULT_SYSTEM",
    "SEED_ARGUMENTS",
    "DataConfig",
    "DatasetEntry",
    "EvalConfig",
    "GenerationConfig",
    "HubConfig",
    "InferConfig",
    "ModelConfig",
    "OutputConfig",
    "QuantizationConfig",
    "RunConfig",
    "Section",
    "TemplateConfig",
    "TrainConfig",
    "TunerConfig",
    "all_key_paths",
    "apply_overrides",
    "config_from_dict",
    "config_to_toml",
    "config_without_errors",
    "cross_check",
    "dict_to_toml",
    "error_message",
    "format_errors",
    "json_schema",
    "load_config",
    "parse_override",
    "read_config_data",
    "unknown_key_hint",
]
