"""``ftcore template show|encode|check``: inspect a template, see what carries loss, check it against the model's own.

    ftcore template show chatml
    ftcore template show chatml --model ./my-model                                  # + a sample, loss marked
    ftcore template encode --model ./my-model --template chatml data.jsonl        # loss spans marked
    ftcore template encode --model ./my-model data.jsonl --json                    # input_ids and labels
    ftcore template check --model ./my-model --template chatml                     # exit 1 on any difference
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "template",
        help="show a template, encode samples with loss spans marked, check it against the tokenizer's own",
        description="Inspect and check chat templates.",
    )
    sub = p.add_subparsers(dest="template_action", metavar="ACTION")
    p.set_defaults(func=_help(p))

    show = sub.add_parser("show", help="print a template's parts")
    show.add_argument("name", help="a registered template (ftcore templates)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument(
        "--model", default=None,
        help="also render a sample conversation with this model's tokenizer (a registered model or a local "
        "folder), loss spans marked",
    )
    show.add_argument("--trust-remote-code", action="store_true", help="allow the tokenizer's own Python code")
    show.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                      help="colour loss spans (auto: on a terminal); otherwise they are shown as [[…]]")
    show.set_defaults(func=run_show)

    enc = sub.add_parser("encode", help="encode samples and show which tokens carry loss")
    _model_args(enc)
    enc.add_argument("file", help="a .jsonl / .json file of samples (messages, query/response, alpaca, sharegpt)")
    enc.add_argument("--json", action="store_true", help="print input_ids and labels as JSON lines")
    enc.add_argument("--limit", type=int, default=None, help="encode at most this many samples")
    enc.add_argument("--system", default=None, help="default system prompt")
    enc.add_argument("--max-length", type=int, default=None, help="tokens per sample (default: no limit)")
    enc.add_argument("--truncation", choices=("left", "right", "drop"), default="left")
    enc.add_argument("--loss-on", choices=("last", "all"), default="last", help="assistant turns that carry loss")
    enc.add_argument("--train-on-prompt", action="store_true", help="every token carries loss")
    enc.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto",
        help="colour loss spans (auto: on a terminal); otherwise they are shown as [[…]]",
    )
    enc.set_defaults(func=run_encode)

    chk = sub.add_parser("check", help="compare the template with the tokenizer's chat_template token by token")
    _model_args(chk)
    chk.add_argument("--json", action="store_true", help="print the report as JSON")
    chk.set_defaults(func=run_check)


def _help(parser: argparse.ArgumentParser):  # type: ignore[no-untyped-def]
    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show_help


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a registered model name or a local folder with its tokenizer")
    p.add_argument(
        "--template", default=None,
        help="a registered template or 'jinja' (default: the model's own, else jinja when the tokenizer has a "
        "chat_template, else default)",
    )
    p.add_argument("--trust-remote-code", action="store_true", help="allow the tokenizer's own Python code")


# --------------------------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    from ftcore.registry import get_catalog
    from ftcore.specs import DEFAULT_SYSTEM, spec_to_dict

    spec = get_catalog().templates.get(args.name)
    if args.json:
        print(json.dumps(spec_to_dict(spec), indent=2, ensure_ascii=False))
        return 0
    lines = [f"template {spec.name}  ({spec.plugin or 'unregistered'})"]
    if spec.description:
        lines.append(f"  {spec.description}")
    if spec.kind == "jinja":
        lines.append("  kind: jinja — renders with the tokenizer's own chat_template; labels: assistant content + turn end")
    else:
        has_system = any(isinstance(i, str) and "{{SYSTEM}}" in i for i in spec.prefix)
        for part in ("prefix", "prompt", "chat_sep", "suffix"):
            value = getattr(spec, part)
            shown = "None (single turn only)" if value is None else "[" + ", ".join(_item(i) for i in value) + "]"
            lines.append(f"  {part + ':':<10}{shown}")
        if not has_system:  # one true statement: without a slot no system prompt, default or given, is used
            lines.append("  system: no {{SYSTEM}} slot — a system prompt (the run's or a default) is ignored")
        elif spec.system is not None:
            lines.append(f"  system: {{{{SYSTEM}}}} in the prefix; default {spec.system!r} (the run's "
                         "template.system replaces it)")
        else:
            lines.append(f"  system: {{{{SYSTEM}}}} in the prefix; the run's template.system, else {DEFAULT_SYSTEM!r}")
    if spec.kind != "jinja":
        lines.append(f"  stop words: {spec.stop_words or '(eos only)'}")
    for diff in spec.known_differences:
        lines.append(f"  known difference: {diff}")
    print("\n".join(lines))
    if args.model:
        _show_sample(args, spec)
    return 0


#: the conversation ``template show --model`` renders (two turns when the template has more than one)
SAMPLE = [
    {"role": "user", "content": "1+1=?"},
    {"role": "assistant", "content": "2"},
    {"role": "user", "content": "And 2+2?"},
    {"role": "assistant", "content": "4"},
]


def _show_sample(args: argparse.Namespace, spec: Any) -> None:
    """Encode :data:`SAMPLE` with the model's tokenizer and print it with the loss spans marked."""
    from ftcore.templates import get_template
    from ftcore.templates.display import label_runs

    tokenizer, model_spec = load_tokenizer(args.model, trust_remote_code=args.trust_remote_code)
    template = get_template(spec.name, tokenizer, model_spec=model_spec)
    messages = SAMPLE if spec.kind == "jinja" or spec.chat_sep is not None else SAMPLE[:2]
    enc = template.encode(messages)
    n_label = sum(1 for x in enc["labels"] if x != -100)
    header = (f"── sample with {args.model}: {len(enc['input_ids'])} tokens, {n_label} carry loss "
              f"(loss on {'every token' if template.train_on_prompt else template.loss_on + ' assistant turn(s)'}) ──")
    _print_runs(args, header, label_runs(template.tokenizer, enc["input_ids"], enc["labels"]))


def _print_runs(args: argparse.Namespace, header: str, runs: list[tuple[bool, str]]) -> None:
    """A header line and the decoded tokens, loss-carrying spans coloured (a terminal) or shown as ``[[…]]``."""
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    if color:
        from rich.console import Console
        from rich.text import Text

        console = Console(highlight=False, soft_wrap=True, force_terminal=True)
        text = Text()
        for labelled, piece in runs:
            text.append(piece, style="bold black on green" if labelled else None)
        console.print(header, style="dim")
        console.print(text)
    else:
        from ftcore.templates.display import bracketed

        print(header)
        print(bracketed(runs))


def _item(item: Any) -> str:
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)
    return json.dumps(item)


# --------------------------------------------------------------------------------------------------


_LOADED: dict[tuple[str, bool], tuple[Any, Any]] = {}


def load_tokenizer(model: str, *, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(tokenizer, model spec or None)`` for ``--model``: a local folder, or a registered model name.

    Loaded once per process (a tokenizer is read-only for these commands).
    """
    key = (model, trust_remote_code)
    if key not in _LOADED:
        _LOADED[key] = _load_tokenizer(model, trust_remote_code=trust_remote_code)
    return _LOADED[key]


def _load_tokenizer(model: str, *, trust_remote_code: bool = False) -> tuple[Any, Any]:
    from ftcore.registry import get_catalog

    path = Path(model).expanduser()
    if path.is_dir():
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code), None
        except (OSError, ValueError) as exc:
            raise FtcoreError(f"--model {model}: cannot load a tokenizer from this folder ({exc})") from None
    catalog = get_catalog()
    spec = catalog.models.get(model)  # unknown names: an error with close matches
    try:
        from ftcore.models import get_model_tokenizer
    except ImportError:
        raise FtcoreError(f"--model {model}: resolving registered models is not available; pass a local folder") from None
    kwargs: dict[str, Any] = {"trust_remote_code": True} if trust_remote_code else {}
    _, tokenizer = get_model_tokenizer(model, load_model=False, **kwargs)
    return tokenizer, spec


def _template(args: argparse.Namespace, **settings: Any) -> Any:
    from ftcore.templates import get_template

    tokenizer, spec = load_tokenizer(args.model, trust_remote_code=args.trust_remote_code)
    return get_template(args.template, tokenizer, model_spec=spec, **settings)


def read_samples(file: str, limit: int | None = None) -> list[tuple[int, Any]]:
    """``(row number, row)`` of a .jsonl (one JSON object a line) or .json (a list) file."""
    path = Path(file)
    if not path.is_file():
        raise FtcoreError(f"{file}: no such file")
    from ftcore.data.loading import check_text_file

    path = check_text_file(path, label=file)  # one line for a file that is not UTF-8; a BOM / CRLF are fine
    rows: list[tuple[int, Any]] = []
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8-sig"))
            if not isinstance(data, list):
                raise FtcoreError(f"{file}: a .json file must hold a list of samples")
            rows = list(enumerate(data, 1))
        else:
            with path.open(encoding="utf-8-sig") as fh:
                for n, line in enumerate(fh, 1):
                    if line.strip():
                        rows.append((n, json.loads(line)))
                    if limit is not None and len(rows) >= limit:
                        break
    except json.JSONDecodeError as exc:
        raise FtcoreError(f"{file}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    return rows[:limit] if limit is not None else rows


def to_messages(row: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """A row in any supported format as ``(messages, images)`` (ftcore.data's normalizer when installed)."""
    try:
        from ftcore.data.formats import normalize_row
    except ImportError:  # pragma: no cover - the data package is part of the core
        if isinstance(row, dict) and isinstance(row.get("messages"), list):
            return row["messages"], row.get("images") or []
        raise ValueError("a sample needs a 'messages' list") from None
    out = normalize_row(row)
    return out["messages"], out.get("images") or []


def run_encode(args: argparse.Namespace) -> int:
    from ftcore.templates import SkipSample
    from ftcore.templates.display import label_runs

    rows = read_samples(args.file, args.limit)
    template = _template(
        args, system=args.system, max_length=args.max_length, truncation=args.truncation,
        loss_on=args.loss_on, train_on_prompt=args.train_on_prompt,
    )
    tok = template.tokenizer
    skipped = 0
    for n, row in rows:
        try:
            messages, images = to_messages(row)
            enc = template.encode(messages, images or None)
        except SkipSample as exc:
            skipped += 1
            _print_skip(args, n, exc.reason, exc.detail)
            continue
        except (ValueError, TypeError) as exc:  # the data normalizer's BadRow and friends
            skipped += 1
            _print_skip(args, n, getattr(exc, "reason", None) or "bad row", str(exc))
            continue
        n_label = sum(1 for x in enc["labels"] if x != -100)
        if args.json:
            print(json.dumps({"row": n, "input_ids": enc["input_ids"], "labels": enc["labels"]}))
            continue
        header = f"── sample {n}: {len(enc['input_ids'])} tokens, {n_label} carry loss ──"
        _print_runs(args, header, label_runs(tok, enc["input_ids"], enc["labels"]))
    if not args.json:
        print(f"{len(rows) - skipped} encoded, {skipped} skipped · template {template.name} "
              f"(loss on {'every token' if template.train_on_prompt else template.loss_on + ' assistant turn(s)'})")
    return 0


def _print_skip(args: argparse.Namespace, n: int, reason: str, detail: str) -> None:
    if args.json:
        print(json.dumps({"row": n, "skipped": reason, "detail": detail}, ensure_ascii=False))
    else:
        print(f"── sample {n}: skipped ({reason}{': ' + detail if detail else ''}) ──")


# --------------------------------------------------------------------------------------------------


def run_check(args: argparse.Namespace) -> int:
    from ftcore.templates.check import check_template, format_report, report_as_dict

    template = _template(args)
    report = check_template(template)
    if args.json:
        print(json.dumps(report_as_dict(report), ensure_ascii=False))
    else:
        print(format_report(report, template.tokenizer))
    return 0 if report.ok else 1
