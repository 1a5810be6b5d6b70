"""Encoding speed: ftcore's Template.encode_batch against the raw batched fast tokenizer on the same texts.

    python bench/encode_throughput.py                 # 20k generated conversations, chatml, the real Qwen2.5 tokenizer
    python bench/encode_throughput.py --n 50000 --template default --model ./my-model

The conversations (English and Chinese, 1-3 rounds, half with a system prompt) are generated from a fixed seed.
"raw" tokenizes the fully rendered conversation texts with ``tokenizer(texts, add_special_tokens=False)`` — the
floor any template pays; "ftcore" builds the same texts from messages, tokenizes them, assigns labels and checks
truncation (``Template.encode_batch``). Each timing is the best of ``--repeat`` runs, interleaved, so a noisy
machine affects both sides alike. Prints samples/s, tokens/s and the ratio ftcore / raw (target >= 0.7).
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

EN = ("the model learns to answer questions about data training loss tokens python code function value "
      "please explain why how what when where which small large fast slow good better best").split()
ZH = list("我们你他是的了在有和不这个人中大为上来到说时要就出会可也能对生年学模型训练数据问题回答")


def _sentence(rng: random.Random, lang: str) -> str:
    if lang == "en":
        words = rng.choices(EN, k=rng.randint(5, 40))
        return " ".join(words).capitalize() + rng.choice([".", "?", "!"])
    return "".join(rng.choices(ZH, k=rng.randint(8, 60))) + rng.choice(["。", "？", "！"])


def make_conversations(n: int, seed: int = 0) -> list[list[dict[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lang = rng.choice(["en", "zh"])
        msgs = []
        if rng.random() < 0.5:
            msgs.append({"role": "system", "content": _sentence(rng, lang)})
        for _ in range(rng.randint(1, 3)):
            msgs.append({"role": "user", "content": " ".join(_sentence(rng, lang) for _ in range(rng.randint(1, 3)))})
            msgs.append({"role": "assistant", "content": " ".join(_sentence(rng, lang) for _ in range(rng.randint(1, 6)))})
        out.append(msgs)
    return out


def _batches(items: list[Any], size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def bench(template: Any, convs: list[list[dict[str, str]]], batch: int, repeat: int) -> dict[str, float]:
    tok = template.tokenizer
    texts = [template.render(c) for c in convs]

    def raw() -> int:
        n = 0
        for b in _batches(texts, batch):
            n += sum(len(x) for x in tok(b, add_special_tokens=False)["input_ids"])
        return n

    def ours() -> int:
        n = 0
        for b in _batches(convs, batch):
            for enc in template.encode_batch(b):
                n += len(enc["input_ids"])
        return n

    raw(), ours()  # warm up
    best = {"raw": float("inf"), "ftcore": float("inf")}
    tokens = {}
    for _ in range(repeat):
        for name, fn in (("raw", raw), ("ftcore", ours)):
            t0 = time.perf_counter()
            tokens[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    assert tokens["raw"] == tokens["ftcore"], "ftcore and raw tokenized different texts"
    return {"seconds_raw": best["raw"], "seconds_ftcore": best["ftcore"], "tokens": tokens["raw"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="conversations (default 20000)")
    parser.add_argument("--template", default="chatml")
    parser.add_argument("--model", default=None, help="a tokenizer folder (default: the real Qwen2.5 tokenizer)")
    parser.add_argument("--batch", type=int, default=1000, help="conversations per batch (datasets.map's default)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loss-on", default="last", choices=("last", "all"))
    parser.add_argument("--jinja-n", type=int, default=2000, help="also time template 'jinja' on this many (0: skip)")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from ftcore.templates import get_template
    from ftcore.testing import qwen25_tokenizer_dir

    tok = AutoTokenizer.from_pretrained(args.model or qwen25_tokenizer_dir())
    convs = make_conversations(args.n)
    template = get_template(args.template, tok, loss_on=args.loss_on)
    r = bench(template, convs, args.batch, args.repeat)
    n = len(convs)
    print(f"{n} conversations, {r['tokens']} tokens, template {args.template!r}, loss_on={args.loss_on}, batch {args.batch}")
    print(f"raw fast tokenizer : {n / r['seconds_raw']:10.0f} samples/s {r['tokens'] / r['seconds_raw']:12.0f} tokens/s")
    print(f"ftcore encode_batch: {n / r['seconds_ftcore']:10.0f} samples/s {r['tokens'] / r['seconds_ftcore']:12.0f} tokens/s")
    print(f"ratio ftcore / raw : {r['seconds_raw'] / r['seconds_ftcore']:.2f}  (target >= 0.70)")
    if args.jinja_n and getattr(tok, "chat_template", None):
        sub = convs[: args.jinja_n]
        jt = get_template("jinja", tok, loss_on=args.loss_on)
        rj = bench(jt, sub, args.batch, 1)
        print(f"jinja ({len(sub)} conversations): {len(sub) / rj['seconds_ftcore']:.0f} samples/s "
              f"{rj['tokens'] / rj['seconds_ftcore']:.0f} tokens/s, ratio {rj['seconds_raw'] / rj['seconds_ftcore']:.2f} "
              "(renders the chat_template once per conversation plus once per labelled turn)")


if __name__ == "__main__":
    main()
