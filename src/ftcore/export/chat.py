"""The prompt format of an export: ftcore's template as a jinja ``chat_template`` (GGUF metadata, tokenizer files) and
as an Ollama Modelfile ``TEMPLATE`` (Go template syntax), each checked against ftcore's own encoding.

A parts template (prefix / prompt / chat_sep / suffix) is rewritten piece by piece; token-id items (``[195]``,
``["eos_token_id"]``) become their decoded text, which llama.cpp and Ollama parse back into the special token. A
``jinja`` template already is a chat_template (the run's ``template.system`` is prepended as a default system
message). Both renderings cover system / user / assistant messages, which is what a chat client sends.

:func:`render_go_template` evaluates the small subset of Go's text/template that :func:`ollama_template` emits
(``range``, ``if eq``/``else if``/``else``, ``$var :=``/``=``, ``.Field``, string literals), so the Modelfile's
TEMPLATE is checked here without Ollama.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ftcore.errors import FtcoreError

#: the conversation every export renders both ways and compares (two rounds, then an open third question)
PROBE = [
    {"role": "user", "content": "Who are you?"},
    {"role": "assistant", "content": "I am a small model."},
    {"role": "user", "content": "What can you do?"},
    {"role": "assistant", "content": "Answer questions."},
]

_SYSTEM, _QUERY, _ROUND0, _ROUND1 = "{{SYSTEM}}", "{{QUERY}}", "{{ROUND0}}", "{{ROUND1}}"


def part_text(template: Any, items: Sequence[Any] | None) -> str:
    """A template part as one string: token-id items decoded, placeholders kept."""
    from ftcore.templates.parts import flatten

    out = []
    for item in items or ():
        if isinstance(item, str):
            out.append(item)
            continue
        ids = [x if isinstance(x, int) else getattr(template.tokenizer, x) for x in flatten(item)]
        out.append(template.tokenizer.decode(ids))
    return "".join(out)


def _parts(template: Any) -> dict[str, Any]:
    """prefix, prompt before / after the query, chat_sep (None: single turn), suffix."""
    spec = template.spec
    prompt = part_text(template, spec.prompt)
    if prompt.count(_QUERY) != 1:
        raise FtcoreError(f"template {template.name!r}: its prompt has {prompt.count(_QUERY)} {_QUERY} slots; "
                          "an export needs exactly one")
    before, after = prompt.split(_QUERY)
    return {"prefix": part_text(template, spec.prefix), "before": before, "after": after,
            "chat_sep": None if spec.chat_sep is None else part_text(template, spec.chat_sep),
            "suffix": part_text(template, spec.suffix)}


def default_system(template: Any) -> str | None:
    """The system prompt an export sets as default (None: the template has no system slot)."""
    if template.spec.kind == "jinja":
        return template.system
    return template.system if template.has_system else None


# ------------------------------------------------------------------------------------------------ jinja


def _jinja_text(text: str, round_offset: int = 0) -> str:
    """``text`` as jinja output: literals as string expressions, placeholders as variables."""
    from ftcore.templates.parts import split_placeholders

    out = []
    for piece in split_placeholders(text):
        if piece == _SYSTEM:
            out.append("{{ system }}")
        elif piece in (_ROUND0, _ROUND1):
            n = round_offset + (piece == _ROUND1)
            out.append(f"{{{{ (ns.round + {n}) | string }}}}")
        elif piece == _QUERY:
            raise FtcoreError(f"{_QUERY} outside the prompt part cannot be exported")
        else:
            out.append("{{ " + json.dumps(piece, ensure_ascii=False) + " }}")
    return "".join(out)


def jinja_chat_template(template: Any) -> str:
    """ftcore's ``template`` as a jinja chat_template (``add_generation_prompt`` opens the assistant turn)."""
    if template.spec.kind == "jinja":
        base = template.chat_template or ""
        if template.system is None:
            return base
        sys_msg = json.dumps({"role": "system", "content": template.system}, ensure_ascii=False)
        return ("{%- if not messages or messages[0]['role'] != 'system' %}{%- set messages = [" + sys_msg
                + "] + messages %}{%- endif %}" + base)
    if template.spec.kind != "parts":
        raise FtcoreError(f"template {template.name!r} encodes in code (kind {template.spec.kind!r}); "
                          "it has no parts to export as a chat template")
    p = _parts(template)
    system = default_system(template) or ""
    sep = "" if p["chat_sep"] is None else _jinja_text(p["chat_sep"], -1)
    open_round = _jinja_text(p["before"])
    return "".join([
        "{%- set ns = namespace(prev='', round=0) %}",
        "{%- if messages and messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}",
        "{%- else %}{%- set system = " + json.dumps(system, ensure_ascii=False) + " %}{%- endif %}",
        _jinja_text(p["prefix"]),
        "{%- for message in messages %}",
        "{%- if message['role'] == 'user' %}",
        "{%- if ns.prev == 'user' %}{{ '\\n' }}{%- else %}",
        "{%- if ns.prev == 'assistant' %}" + sep + "{%- endif %}" + open_round + "{%- endif %}",
        "{{ message['content'] }}{%- set ns.prev = 'user' %}",
        "{%- elif message['role'] == 'assistant' %}",
        "{%- if ns.prev != 'user' %}{%- if ns.prev == 'assistant' %}" + sep + "{%- endif %}" + open_round,
        "{%- endif %}" + _jinja_text(p["after"]),
        "{{ message['content'] }}{%- set ns.prev = 'assistant' %}{%- set ns.round = ns.round + 1 %}",
        "{%- elif message['role'] != 'system' %}",
        "{{ raise_exception('this chat template takes system, user and assistant messages') }}",
        "{%- endif %}{%- endfor %}",
        "{%- if ns.prev == 'user' and add_generation_prompt %}" + _jinja_text(p["after"]),
        "{%- elif ns.prev == 'assistant' %}" + _jinja_text(p["suffix"], -1) + "{%- endif %}",
    ])


def probe(template: Any) -> list[dict[str, str]]:
    """The probe conversation the template takes: two rounds, or one for a single-turn template."""
    return PROBE if template.supports_multi_turn else PROBE[:2]


def check_chat_template(template: Any, chat_template: str) -> None:
    """Refuse an export whose chat_template encodes the probe conversation to other tokens than ftcore does."""
    tok = template.tokenizer
    conv = probe(template)
    for messages, generation in ((conv[:-1], True), (conv, False)):
        text = tok.apply_chat_template(list(messages), chat_template=chat_template, tokenize=False,
                                       add_generation_prompt=generation)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        ours = template.encode_prompt(messages) if generation else template.encode(messages)["input_ids"]
        if list(ids) != list(ours):
            raise FtcoreError(f"template {template.name!r}: the exported chat template does not reproduce ftcore's "
                              f"prompt (it renders {text[:80]!r}…); this template cannot be exported as jinja")


# ------------------------------------------------------------------------------------------------ Ollama


def _go_text(text: str) -> str:
    """``text`` as Go-template output: verbatim, or a string literal when it holds action delimiters."""
    if _ROUND0 in text or _ROUND1 in text:
        raise FtcoreError("round numbers ({{ROUND0}} / {{ROUND1}}) cannot be written in an Ollama TEMPLATE")
    out = text.replace(_SYSTEM, "\0")
    pieces = []
    for i, piece in enumerate(out.split("\0")):
        if i:
            pieces.append("{{ .System }}")
        if "{{" in piece or "}}" in piece or '"""' in piece:
            pieces.append("{{ " + json.dumps(piece) + " }}")
        else:
            pieces.append(piece)
    return "".join(pieces)


def ollama_template(template: Any) -> str:
    """ftcore's ``template`` as an Ollama Modelfile TEMPLATE (Go template over ``.System`` and ``.Messages``).

    Ollama prepends the Modelfile's SYSTEM as a system message when a chat brings none and sets ``.System``, so the
    prefix is written once with ``.System``; system messages are skipped in the loop."""
    if template.spec.kind != "parts":
        raise FtcoreError(f"template {template.name!r} (kind {template.spec.kind!r}) is not made of parts; an "
                          "Ollama TEMPLATE is written from a parts template (e.g. chatml): train with one, or write "
                          "the TEMPLATE by hand")
    p = _parts(template)
    sep = "" if p["chat_sep"] is None else _go_text(p["chat_sep"])
    open_round = _go_text(p["before"])
    return "".join([
        _go_text(p["prefix"]), '{{ $prev := "" }}{{ range .Messages }}',
        '{{ if eq .Role "user" }}{{ if eq $prev "assistant" }}', sep, "{{ end }}",
        '{{ if ne $prev "user" }}', open_round, '{{ end }}{{ .Content }}{{ $prev = "user" }}',
        '{{ else if eq .Role "assistant" }}{{ if eq $prev "assistant" }}', sep, "{{ end }}",
        '{{ if ne $prev "user" }}', open_round, "{{ end }}", _go_text(p["after"]),
        '{{ .Content }}{{ $prev = "assistant" }}',
        '{{ end }}{{ end }}{{ if eq $prev "user" }}', _go_text(p["after"]), "{{ end }}",
    ])


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _parse(text: str) -> list[Any]:
    """Nodes: str, ("out", expr), ("set", var, expr), ("range", expr, body), ("if", [(cond, body)], else)."""
    tokens: list[Any] = []
    pos = 0
    while (start := text.find("{{", pos)) >= 0:
        if start > pos:
            tokens.append(text[pos:start])
        i = start + 2
        while not text.startswith("}}", i):  # the action ends at the first }} outside a string literal
            if i >= len(text):
                raise FtcoreError("unclosed {{ in the template")
            if text[i] == '"':
                m = _STRING.match(text, i)
                if m is None:
                    raise FtcoreError("unclosed string in the template")
                i = m.end()
            else:
                i += 1
        tokens.append(("action", text[start + 2:i].strip()))
        pos = i + 2
    if pos < len(text):
        tokens.append(text[pos:])
    nodes, rest = _block(tokens, 0)
    if rest != len(tokens):
        raise FtcoreError(f"unexpected {tokens[rest][1]!r} in the template")
    return nodes


def _block(tokens: list[Any], i: int) -> tuple[list[Any], int]:
    nodes: list[Any] = []
    while i < len(tokens):
        tok = tokens[i]
        if isinstance(tok, str):
            nodes.append(tok)
            i += 1
            continue
        action = tok[1]
        if action == "end" or action == "else" or action.startswith("else if "):
            return nodes, i
        if action.startswith("range "):
            body, i = _block(tokens, i + 1)
            nodes.append(("range", action[6:].strip(), body))
            i += 1
        elif action.startswith("if "):
            branches, other = [], None
            cond = action[3:].strip()
            while True:
                body, i = _block(tokens, i + 1)
                branches.append((cond, body))
                closing = tokens[i][1]
                if closing.startswith("else if "):
                    cond = closing[8:].strip()
                    continue
                if closing == "else":
                    other, i = _block(tokens, i + 1)
                break
            nodes.append(("if", branches, other))
            i += 1
        elif m := re.fullmatch(r"(\$\w+)\s*:?=\s*(.+)", action):
            nodes.append(("set", m.group(1), m.group(2)))
            i += 1
        else:
            nodes.append(("out", action))
            i += 1
    return nodes, i


def _value(expr: str, dot: Any, env: dict[str, Any]) -> Any:
    expr = expr.strip()
    if _STRING.fullmatch(expr):
        return json.loads(expr)
    if expr.startswith("$"):
        return env[expr]
    if expr.startswith("."):
        return dot[expr[1:]] if isinstance(dot, dict) else getattr(dot, expr[1:])
    parts = expr.split(None, 1)
    if parts[0] in ("eq", "ne") and len(parts) == 2:
        args = [a for a in re.findall(r'"(?:[^"\\]|\\.)*"|\S+', parts[1])]
        if len(args) != 2:
            raise FtcoreError(f"{parts[0]} takes two arguments: {expr!r}")
        same = _value(args[0], dot, env) == _value(args[1], dot, env)
        return same if parts[0] == "eq" else not same
    raise FtcoreError(f"unsupported template expression {expr!r}")


def _run(nodes: list[Any], dot: Any, env: dict[str, Any], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "out":
            out.append(str(_value(node[1], dot, env)))
        elif node[0] == "set":
            env[node[1]] = _value(node[2], dot, env)
        elif node[0] == "range":
            for item in _value(node[1], dot, env):
                _run(node[2], item, env, out)
        else:
            for cond, body in node[1]:
                if _value(cond, dot, env):
                    _run(body, dot, env, out)
                    break
            else:
                if node[2]:
                    _run(node[2], dot, env, out)


def render_go_template(text: str, messages: Sequence[dict[str, str]], system: str | None = None) -> str:
    """Render an Ollama TEMPLATE the way Ollama's chat does: ``system`` (the Modelfile's SYSTEM) becomes the first
    message when the chat has none; ``.System`` is the system text, ``.Messages`` every message (``Role``,
    ``Content``)."""
    msgs = [{"Role": m["role"], "Content": m["content"]} for m in messages]
    if system and (not msgs or msgs[0]["Role"] != "system"):
        msgs.insert(0, {"Role": "system", "Content": system})
    sys_text = "\n\n".join(m["Content"] for m in msgs if m["Role"] == "system")
    out: list[str] = []
    _run(_parse(text), {"System": sys_text, "Messages": msgs}, {}, out)
    return "".join(out)


def check_ollama_template(template: Any, text: str) -> None:
    """Refuse a TEMPLATE that renders the probe's generation prompt to other tokens than ftcore's."""
    messages = probe(template)[:-1]
    rendered = render_go_template(text, messages, default_system(template))
    ids = template.tokenizer(rendered, add_special_tokens=False)["input_ids"]
    if list(ids) != list(template.encode_prompt(messages)):
        raise FtcoreError(f"template {template.name!r}: the Ollama TEMPLATE does not reproduce ftcore's prompt "
                          f"(it renders {rendered[:80]!r}…)")
