"""The README.md model card every export writes: base model, data, tuner, metrics (the run's result.json), the ftcore
commands, and the license inherited from the base model (its card's ``license:`` front matter, else its
config / tokenizer files say nothing and the card says so)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

CARD = """---
license: {license}
base_model: {base}
library_name: {library}
tags:
- ftcore
- {fmt}
---

# {title}

Fine-tuned from **{base}** with ftcore ({method}), exported as **{fmt}**{quant}.

| | |
|---|---|
| base model | {base} |
| data | {data} |
| tuner | {tuner} |
| template | {template} |
| license | {license} (inherited from the base model) |
| exported | {date} |

## Metrics

{metrics}

## How it was made

```bash
ftcore train run.toml      # the run's config is ftcore_run.toml / run.toml next to the checkpoint
{command}
```

{usage}
"""


def base_license(model_dir: str | Path | None) -> str:
    """The base model's license: its README.md front matter ``license:``, else ``other``."""
    if model_dir is None:
        return "other"
    readme = Path(model_dir) / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8", errors="replace")
        front = re.match(r"---\n(.*?)\n---", text, re.S)
        if front:
            m = re.search(r"^license:\s*(\S+)", front.group(1), re.M)
            if m:
                return m.group(1).strip("'\"")
    return "other"


def run_metrics(ckpt: Path) -> dict[str, Any]:
    """The ``metrics`` of the run's result.json (run folder above the checkpoint), else {}."""
    for folder in (ckpt, ckpt.parent):
        f = folder / "result.json"
        if f.is_file():
            try:
                return dict(json.loads(f.read_text(encoding="utf-8")).get("metrics") or {})
            except (ValueError, AttributeError):
                return {}
    return {}


def _data(cfg: Any) -> str:
    names = []
    for entry in cfg.data.datasets:
        if isinstance(entry, str):
            names.append(entry)
        else:
            names.append(entry.name or entry.repo or Path(str(entry.path)).name)
    return ", ".join(names) or "-"


def _tuner(cfg: Any) -> str:
    t = cfg.tuner
    if t.method in ("lora", "qlora"):
        return f"{t.method} (rank {getattr(t, 'rank', '?')}, alpha {getattr(t, 'alpha', '?')}), merged into the base"
    return t.method


def model_card(cfg: Any, ckpt: Path, *, fmt: str, quant: str | None, command: str, base_dir: str | None,
               usage: str = "") -> str:
    """The card text for an export of ``ckpt`` (run config ``cfg``) to ``fmt``."""
    m = cfg.model
    base = m.name or m.repo or Path(str(m.path)).name
    metrics = run_metrics(ckpt)
    rows = "\n".join(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                     for k, v in sorted(metrics.items()))
    return CARD.format(
        license=base_license(base_dir), base=base, library="gguf" if fmt in ("gguf", "ollama") else "transformers",
        fmt=fmt, title=f"{base} ({cfg.tuner.method}, {fmt})", method=cfg.tuner.method,
        quant=f" ({quant})" if quant else "", data=_data(cfg), tuner=_tuner(cfg),
        template=cfg.template.name or "the model's default", date=time.strftime("%Y-%m-%d"),
        metrics=f"| metric | value |\n|---|---|\n{rows}" if rows else "No result.json was found for this run.",
        command=command, usage=usage,
    ).rstrip() + "\n"
