"""``train(config)``: run.toml → the stage's recipe (ftcore.training.recipe) → a versioned output folder."""

from __future__ import annotations

import os
from typing import Any

from ftcore.config import RunConfig, apply_overrides, config_from_dict, load_config
from ftcore.outputs import RUN_FILE_IN_CHECKPOINT
from ftcore.training.recipe import SFTRecipe, TrainResult, get_recipe, longest_first

__all__ = ["RUN_FILE_IN_CHECKPOINT", "TrainResult", "as_config", "longest_first", "sft_main", "train"]


def as_config(config: RunConfig | str | os.PathLike[str] | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
              ) -> RunConfig:
    """A new RunConfig from a RunConfig, a run.toml path or a dict (``overrides``: ``section.key=value``).

    A RunConfig given is copied, never returned itself: nothing a run decides can change the caller's object.
    """
    if isinstance(config, RunConfig):
        if not overrides:
            return config.model_copy(deep=True)
        data = apply_overrides(config.model_dump(mode="json", exclude_none=True), list(overrides))
        rebuilt = config_from_dict(data, source=config.source, base_dir=config.base_dir)
        if rebuilt.hub.token is None and config.hub.token:  # hub.token is never dumped: carry it over
            rebuilt.hub.token = config.hub.token
        return rebuilt
    if isinstance(config, dict):
        return config_from_dict(apply_overrides(dict(config), list(overrides)), source="<dict>",
                                base_dir=os.getcwd())
    return load_config(config, list(overrides))


def train(config: RunConfig | str | os.PathLike[str] | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
          ) -> TrainResult:
    """Fine-tune as ``config`` says (a RunConfig, a run.toml path or a dict); returns the run's folders and metrics.

    The config is validated once (when it is built), then the stage's recipe runs its steps
    (:class:`ftcore.training.recipe.Recipe`). A RunConfig passed in is left as it was.

    >>> result = train("examples/quickstart.toml")  # doctest: +SKIP
    >>> result.best_checkpoint                       # doctest: +SKIP
    'output/ftcore-tiny-qwen2/v0-20261128-101500/checkpoint-40'
    """
    cfg = as_config(config, overrides)
    from ftcore.validation import check_environment, check_references

    check_references(cfg)
    check_environment(cfg)  # output.dir, optim, report_to, LoRA targets … before the model and data are loaded
    recipe = get_recipe(cfg.train.stage)(cfg)
    return recipe.run()


def sft_main(config: RunConfig | str | os.PathLike[str] | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()
             ) -> TrainResult:
    """ms-swift's name for :func:`train` (which returned the best checkpoint; here ``.best_checkpoint``)."""
    return train(config, overrides)


__all__ += ["SFTRecipe"]
