"""``--to ollama``: the GGUF file plus a Modelfile (FROM the GGUF, TEMPLATE written from the ftcore template in Go
template syntax, SYSTEM the run's default system prompt, PARAMETER stop for each stop word). ``ollama create NAME
-f Modelfile`` in the folder makes the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftcore.export.chat import check_ollama_template, default_system, ollama_template


def modelfile(template: Any, gguf_name: str) -> str:
    """The Modelfile text for ``template`` with weights ``gguf_name`` (checked to render as ftcore encodes)."""
    go = ollama_template(template)
    check_ollama_template(template, go)
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{go}"""']
    system = default_system(template)
    if system is not None:
        lines.append(f'SYSTEM """{system}"""')
    for word in template.stop_words:
        lines.append(f"PARAMETER stop {json.dumps(word, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def read_modelfile(text: str) -> dict[str, Any]:
    """``{"FROM": ..., "TEMPLATE": ..., "SYSTEM": ..., "stop": [...]}`` of a Modelfile ftcore wrote."""
    import re

    out: dict[str, Any] = {"stop": []}
    for m in re.finditer(r'^(FROM|TEMPLATE|SYSTEM|PARAMETER)\s+(?:"""(.*?)"""|([^\n]*))$', text, re.M | re.S):
        key, value = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        if key == "PARAMETER":
            name, arg = value.split(None, 1)
            if name == "stop":
                out["stop"].append(json.loads(arg))
        else:
            out[key] = value
    return out


def write_ollama(source: Any, dest: Path, quant: str, write_gguf: Callable[[Any, Path, str], Path]) -> str:
    text = modelfile(source.template, f"model-{quant}.gguf")  # refuse before the GGUF is written
    gguf_file = write_gguf(source, dest, quant)
    (dest / "Modelfile").write_text(text.replace(f"model-{quant}.gguf", gguf_file.name), encoding="utf-8")
    return "Create and run it with Ollama: `ollama create my-model -f Modelfile && ollama run my-model`."
