"""Generation in batches: ready prompts (token ids) answered several per ``model.generate`` call.

Evaluation with generation (``eval.predict_with_generate``, ``ftcore eval``) and ``ftcore infer --dataset-sample``
answer many prompts; one ``generate`` call per prompt leaves the matrix units idle on small batches. Here prompts
of similar lengths share a batch, left-padded with an attention mask (the model's position ids follow the mask),
with the KV cache, and every row stops on its own: the template's stop ids end it through ``eos_token_id``, a
stop word through a per-row stopping criterion; finished rows are padded until the batch ends and cut at their
first stop id. Greedy answers equal :func:`ftcore.inference.generate.inference` on each prompt
(tests/inference/test_generate_batch.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ftcore.inference.generate import (
    _device_of,
    _hf_generation_config,
    decode_response,
    generation_settings,
    stop_token_ids,
)
from ftcore.inference.generate import _tokenizer_of as tokenizer_of

__all__ = ["DEFAULT_GENERATION_BATCH", "generate_batch"]


#: prompts per ``model.generate`` call in :func:`generate_batch` (eval, ``ftcore infer --dataset-sample``)
DEFAULT_GENERATION_BATCH = 8


def _make_batch_stopper(template: Any, prompt_len: int) -> Any:
    """Stops each row of a batch on a stop word in its own new text (stop tokens end rows through eos ids)."""
    import torch
    from transformers import StoppingCriteria

    tokenizer = tokenizer_of(template)
    words = [w for w in template.stop_words if w]
    window = max((len(tokenizer.encode(w, add_special_tokens=False)) for w in words), default=0) + 2

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [False] * input_ids.shape[0]
            if words and input_ids.shape[1] > prompt_len:
                start = max(prompt_len, input_ids.shape[1] - window)
                for r, tail in enumerate(tokenizer.batch_decode(input_ids[:, start:].tolist())):
                    done[r] = any(w in tail for w in words)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return _Stop()


def generate_batch(
    model: Any,
    template: Any,
    prompts: Sequence[Sequence[int]],
    *,
    generation: Any = None,
    batch_size: int = DEFAULT_GENERATION_BATCH,
    **options: Any,
) -> list[str]:
    """Answers to ready prompts (token ids, as :func:`inference` takes with ``input_ids``), ``batch_size`` at a
    time: prompts of similar length share a batch, left-padded with an attention mask, one ``model.generate`` call
    with the KV cache per batch; each row stops on the template's stop ids and stop words. Returned in the order
    of ``prompts``; with greedy decoding equal to calling :func:`inference` on each prompt."""
    import torch
    from transformers import StoppingCriteriaList

    gen = generation_settings(generation, **options)
    hf_config = _hf_generation_config(gen, template)
    stops = set(stop_token_ids(template))
    pad = hf_config.pad_token_id if hf_config.pad_token_id is not None else 0
    device = _device_of(model)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers: list[str] = [""] * len(prompts)
    for start in range(0, len(order), max(1, batch_size)):
        chunk = order[start:start + max(1, batch_size)]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, i in enumerate(chunk):
            p = list(prompts[i])
            if p:
                ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[r, width - len(p):] = 1
        with torch.inference_mode():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 generation_config=hf_config,
                                 stopping_criteria=StoppingCriteriaList([_make_batch_stopper(template, width)]))
        for r, i in enumerate(chunk):
            new = out[r, width:].tolist()
            end = next((k for k, t in enumerate(new) if t in stops), None)  # finished rows go on with padding
            answers[i] = decode_response(template, new if end is None else new[:end + 1])
    return answers
