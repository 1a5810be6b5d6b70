"""Built-in training stages (``register_stages``): sft, and the preference / reward stages dpo, kto, orpo, simpo,
cpo and rm.

Recipes and options are ``"module:Class"`` strings: listing the stages (``ftcore stages``) imports no torch, and a
stage's recipe is imported only when a run selects it. The option models live in :mod:`ftcore.config.stages`
(torch-free; they are also the typed ``[dpo]`` … tables of RunConfig).
"""

from __future__ import annotations

from collections.abc import Callable

from ftcore.hookspecs import hookimpl
from ftcore.specs import StageSpec

_OPTIONS = "ftcore.config.stages"
_RECIPES = "ftcore.training.stages"

STAGES = (
    StageSpec(name="sft", recipe="ftcore.training.recipe:SFTRecipe", data="sft", tags=["supervised"],
              description="supervised fine-tuning: loss on the answers of conversations (the default)"),
    StageSpec(name="dpo", recipe=f"{_RECIPES}.dpo:DPORecipe", options=f"{_OPTIONS}:DPOOptions",
              data="preference", uses_reference=True, tags=["preference", "reference"],
              description="Direct Preference Optimization on chosen / rejected pairs (TRL's losses: sigmoid, "
              "ipo, hinge, robust, bco_pair, apo_zero …)"),
    StageSpec(name="kto", recipe=f"{_RECIPES}.kto:KTORecipe", options=f"{_OPTIONS}:KTOOptions",
              data="kto", uses_reference=True, tags=["preference", "reference"],
              description="Kahneman-Tversky Optimization on single answers labelled good or bad"),
    StageSpec(name="orpo", recipe=f"{_RECIPES}.orpo:ORPORecipe", options=f"{_OPTIONS}:ORPOOptions",
              data="preference", tags=["preference"],
              description="Odds Ratio Preference Optimization: SFT + an odds-ratio term, no reference model"),
    StageSpec(name="simpo", recipe=f"{_RECIPES}.simpo:SimPORecipe", options=f"{_OPTIONS}:SimPOOptions",
              data="preference", tags=["preference"],
              description="SimPO: length-normalized rewards with a target margin, no reference model"),
    StageSpec(name="cpo", recipe=f"{_RECIPES}.cpo:CPORecipe", options=f"{_OPTIONS}:CPOOptions",
              data="preference", tags=["preference"],
              description="Contrastive Preference Optimization: preference loss + chosen NLL, no reference model"),
    StageSpec(name="rm", recipe=f"{_RECIPES}.rm:RewardRecipe", options=f"{_OPTIONS}:RewardOptions",
              data="preference", tags=["reward"],
              description="a reward model: a scalar head trained to rank chosen over rejected (ftcore infer "
              "--score)"),
)


@hookimpl
def register_stages(register: Callable[[StageSpec], None]) -> None:
    for spec in STAGES:
        register(spec)
