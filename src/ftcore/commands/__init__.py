"""One module per ``ftcore`` sub-command; each defines ``add_parser(subparsers)`` and ``run(args)``.

What several sub-commands share lives here: the generation flags of ``ftcore infer`` and ``ftcore eval``.
"""

from __future__ import annotations

import argparse
from typing import Any

#: the generation flags' destinations, as ``generation_settings`` keywords
GENERATION_FLAGS = ("max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "repetition_penalty")


def add_generation_args(parser: argparse.ArgumentParser) -> None:
    """The generation flags (default: the run's ``[generation]``) and ``--seed``, as one argument group."""
    g = parser.add_argument_group("generation (default: the run's [generation])")
    g.add_argument("--max-new-tokens", type=int, metavar="N")
    sample = g.add_mutually_exclusive_group()
    sample.add_argument("--do-sample", dest="do_sample", action="store_true", default=None, help="sample")
    sample.add_argument("--greedy", dest="do_sample", action="store_false", help="greedy decoding")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--repetition-penalty", type=float)
    g.add_argument("--seed", type=int, default=42, help="random seed for sampling (default 42)")


def generation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The generation flags as keywords (None where not given: the run's value applies)."""
    return {name: getattr(args, name) for name in GENERATION_FLAGS}
