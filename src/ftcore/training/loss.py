"""The training loss: causal-LM cross-entropy with the LM head applied only where a label carries loss.

For a model with a large vocabulary (Qwen: 152k) the LM head and the cross-entropy over every position cost more
than the whole decoder of a small model, and most positions (prompt, padding) carry no loss. :func:`causal_lm_loss`
therefore

1. runs the model once with ``logits_to_keep=1`` (so it projects one position per row, not all of them) and picks
   up the decoder's final hidden states with a forward hook on the decoder module;
2. keeps the positions whose *shifted* label is not -100 (position ``t`` predicts ``labels[t + 1]``);
3. applies the LM head and the cross-entropy there only, in chunks of bounded size. For a plain ``nn.Linear`` head
   (tied or not, frozen or trained, also peft's ``modules_to_save`` copy) a fused function computes the loss and
   its gradients chunk by chunk in the forward pass and keeps only ``(tokens × hidden)`` and ``(vocab × hidden)``
   gradients, never a ``(tokens × vocab)`` tensor; any other head (LoRA on the head, ZeRO-3 partitions, …) is
   called as a module per chunk under activation checkpointing.

The result equals the standard full-logits loss and gradients within floating-point tolerance
(tests/training/throughput/test_loss.py checks LoRA and full fine-tuning, packed and padded, tied and untied heads, a
trained head). The model is always called with ``use_cache=False``: with the cache on, transformers skips the
packed-sequence mask and packed samples attend to each other (see :mod:`ftcore.data.packing`).

Safety net: the model's own logits for the one kept position are compared with the head applied to the captured
hidden state, once per model. A model that transforms logits after the head (soft-capping, logit scaling) or that
does not take ``logits_to_keep`` falls back to the full-logits path, with a warning.

Normalization: the loss is ``sum of token losses / num_items_in_batch`` when the Trainer passes
``num_items_in_batch`` (the number of label tokens of the whole effective batch: all micro-batches of one
optimizer step, all devices), so gradient accumulation yields the mean over all label tokens of the effective
batch — not a mean of per-micro-batch means, which would over-weight the tokens of short micro-batches. Without it
(evaluation) the loss is the mean over the batch's own label tokens.

Token accuracy (ms-swift's ``acc``): the share of label positions whose argmax is the label, counted from the same
chunked logits as the loss (``stats=``), so it too needs no full logits tensor.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch
from torch import nn

from ftcore.templates.base import IGNORE_INDEX

#: Logits held at once by the chunked head (float32 bytes); bounds the head's peak memory.
DEFAULT_CHUNK_BYTES = 256 * 1024 * 1024

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# Finding the pieces of a (possibly wrapped) causal LM


def unwrap_model(model: nn.Module) -> nn.Module:
    """The transformers ``*ForCausalLM`` inside DDP / DeepSpeed / torch.compile / peft wrappers."""
    m: Any = model
    for _ in range(10):
        if hasattr(m, "get_base_model") and callable(m.get_base_model):  # peft PeftModel
            m = m.get_base_model()
        elif hasattr(m, "_orig_mod"):  # torch.compile
            m = m._orig_mod
        elif isinstance(getattr(m, "module", None), nn.Module) and not hasattr(m, "get_output_embeddings"):
            m = m.module  # DDP, DeepSpeedEngine, accelerate wrappers
        else:
            break
    return m


def find_decoder_and_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(decoder, lm_head) of a causal LM, through wrappers; raises ``LookupError`` when there is none."""
    base: Any = unwrap_model(model)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    decoder = None
    if hasattr(base, "get_decoder"):
        try:
            decoder = base.get_decoder()
        except (AttributeError, ValueError, NotImplementedError):
            decoder = None
    if decoder is None or decoder is base:
        decoder = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    if not isinstance(head, nn.Module) or not isinstance(decoder, nn.Module) or decoder is base:
        raise LookupError(f"cannot find the decoder and LM head of {type(base).__name__}")
    return decoder, head


def _plain_linear(head: Any) -> nn.Linear | None:
    """The ``nn.Linear`` that computes the head's output, if it is one whose weight we can use directly."""
    if type(head).__name__ == "ModulesToSaveWrapper":  # peft: the trained copy, or the original when disabled
        adapters = list(getattr(head, "active_adapters", []) or [])
        if getattr(head, "disable_adapters", False) or not adapters or any(a not in head.modules_to_save for a in adapters):
            head = head.original_module
        else:
            head = head.modules_to_save[adapters[0]]
    if type(head) is not nn.Linear or hasattr(head, "_hf_hook"):
        return None  # accelerate hooks (device_map, offloading) move or materialize weights in the module call
    w = head.weight
    if w.dim() != 2 or w.numel() == 0 or hasattr(w, "ds_id") or type(w) not in (torch.Tensor, nn.Parameter):
        return None  # ZeRO-3 partition, DTensor, quantized storage …
    return head


def _accepts_logits_to_keep(base: nn.Module) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------------
# Head + cross-entropy on selected positions


class _LinearCrossEntropy(torch.autograd.Function):
    """(sum_i CE(h_i @ W.T + b, y_i), #(argmax == y_i)), chunked; gradients computed in forward so no
    (N × vocab) tensor is kept; the correct-token count comes from the same chunk logits."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk, grad_on):  # type: ignore[override]
        need_h, need_w, need_b = (grad_on and bool(n) for n in ctx.needs_input_grad[:3])
        grad_w = torch.zeros_like(weight, dtype=torch.float32) if need_w else None
        grad_b = torch.zeros_like(bias, dtype=torch.float32) if need_b else None
        online = not (need_w or need_b) and hidden.device.type == "cpu"
        if online:  # a frozen head on the CPU: one cache-blocked pass, no (chunk × vocab) tensor
            from ftcore.training.head_ce import online_linear_cross_entropy

            total, correct, grad_h = online_linear_cross_entropy(hidden, weight, bias, targets, want_grad=need_h)
        else:
            grad_h = torch.empty_like(hidden) if need_h else None
            total = torch.zeros((), dtype=torch.float32, device=hidden.device)
            correct = torch.zeros((), dtype=torch.long, device=hidden.device)
        x = hidden.to(weight.dtype)
        for start in () if online else range(0, hidden.shape[0], chunk):
            h = x[start:start + chunk]
            y = targets[start:start + chunk]
            logits = nn.functional.linear(h, weight, bias).float()
            picked = logits.gather(1, y[:, None]).squeeze(1)
            correct += (logits.argmax(dim=1) == y).sum()  # token accuracy, from the logits already here
            top = logits.amax(dim=1, keepdim=True)
            e = logits.sub_(top).exp_()  # in place: exp(logits - max)
            z = e.sum(dim=1, keepdim=True)
            total += (top.squeeze(1) + z.squeeze(1).log() - picked).sum()
            if need_h or need_w or need_b:
                # d loss / d logits = softmax - onehot = e / z - onehot; 1/z and the onehot are folded into the
                # small sides of the products, so no further pass over the (chunk × vocab) tensor is needed
                inv_z = z.reciprocal()
                e_w = e.to(weight.dtype)
                if need_h:
                    gh = (e_w @ weight).float().mul_(inv_z) - weight[y].float()
                    grad_h[start:start + chunk] = gh.to(hidden.dtype)
                if need_w:
                    hf = h.float()
                    grad_w.addmm_(e.t(), hf * inv_z)
                    grad_w.index_add_(0, y, hf, alpha=-1.0)
                if need_b:
                    grad_b += (e.t() @ inv_z).squeeze(1)
                    grad_b.index_add_(0, y, torch.ones_like(y, dtype=torch.float32), alpha=-1.0)
                del e_w
            del logits, e
        ctx.save_for_backward(*(t for t in (grad_h, grad_w, grad_b) if t is not None))
        ctx.has = (need_h, need_w, need_b)
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        ctx.mark_non_differentiable(correct)
        return total, correct

    @staticmethod
    def backward(ctx, grad_out, _grad_correct=None):  # type: ignore[override]
        saved = list(ctx.saved_tensors)
        need_h, need_w, need_b = ctx.has
        out = []
        for need, dtype in ((need_h, None), (need_w, ctx.dtypes[0]), (need_b, ctx.dtypes[1])):
            if need:
                g = saved.pop(0) * grad_out
                out.append(g if dtype is None else g.to(dtype))
            else:
                out.append(None)
        return out[0], out[1], out[2], None, None, None


def _generic_head_correct(hidden: torch.Tensor, targets: torch.Tensor, head: nn.Module, chunk: int) -> torch.Tensor:
    """Correct-token count of ``head(hidden)`` against ``targets``, chunk by chunk, without gradients."""
    with torch.no_grad():
        return sum(((head(hidden[s:s + chunk]).argmax(dim=-1) == targets[s:s + chunk]).sum()
                    for s in range(0, hidden.shape[0], chunk)), torch.zeros((), dtype=torch.long,
                                                                             device=targets.device))


def _generic_head_ce(hidden: torch.Tensor, targets: torch.Tensor, head: nn.Module, chunk: int) -> torch.Tensor:
    from torch.utils.checkpoint import checkpoint

    def piece(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(head(h).float(), y, reduction="sum")

    if hidden.shape[0] <= chunk or not torch.is_grad_enabled():
        parts = [piece(hidden[s:s + chunk], targets[s:s + chunk]) for s in range(0, hidden.shape[0], chunk)]
    else:  # recompute each chunk's logits in backward so only one chunk's logits live at a time
        parts = [
            checkpoint(piece, hidden[s:s + chunk], targets[s:s + chunk], use_reentrant=False)
            for s in range(0, hidden.shape[0], chunk)
        ]
    return torch.stack(parts).sum()


def _triton_interpreted() -> bool:
    """Triton's interpreter (``TRITON_INTERPRET=1``) runs Liger's kernels on CPU tensors (slowly: tests only)."""
    import os

    return os.environ.get("TRITON_INTERPRET") == "1"


def head_cross_entropy_sum(
    hidden: torch.Tensor, targets: torch.Tensor, head: nn.Module, *, chunk_tokens: int | None = None,
    stats: dict[str, Any] | None = None, impl: str = "ftcore",
) -> torch.Tensor:
    """Sum of cross-entropy losses of ``head(hidden)`` against ``targets`` (``hidden``: N × H, ``targets``: N).

    ``stats``: a dict that receives ``correct`` (tokens whose argmax is the target) and ``total`` (N), chunk by
    chunk as well — token accuracy without a full logits tensor. ``impl="liger"`` (``train.liger``): Liger's fused
    linear cross-entropy for a plain linear head on a CUDA device (ftcore.training.liger)."""
    linear = _plain_linear(head)
    vocab = linear.out_features if linear is not None else getattr(head, "out_features", None) or 32000
    chunk = chunk_tokens or max(64, DEFAULT_CHUNK_BYTES // (4 * vocab))
    if impl == "liger" and linear is not None and (linear.weight.is_cuda or _triton_interpreted()):
        from ftcore.training.liger import liger_head_cross_entropy

        total, correct = liger_head_cross_entropy(hidden.to(linear.weight.device), linear.weight, linear.bias,
                                                  targets.to(linear.weight.device))
    elif linear is not None:
        hidden, targets = hidden.to(linear.weight.device), targets.to(linear.weight.device)
        total, correct = _LinearCrossEntropy.apply(hidden, linear.weight, linear.bias, targets, chunk,
                                                   torch.is_grad_enabled())
    else:
        total = _generic_head_ce(hidden, targets, head, chunk)
        correct = _generic_head_correct(hidden, targets, head, chunk) if stats is not None else None
    if stats is not None:
        _add_stats(stats, correct, targets.numel())
    return total


def _add_stats(stats: dict[str, Any], correct: Any, total: int) -> None:
    """Accumulate token-accuracy counts (``correct`` a tensor or int, ``total`` label tokens) into ``stats``."""
    # kept on the device (no sync per step); read once per log by token_accuracy / the trainer
    correct = correct.detach() if torch.is_tensor(correct) else torch.tensor(int(correct))
    stats["correct"] = stats.get("correct", 0) + correct
    stats["total"] = stats.get("total", 0) + int(total)


def token_accuracy(stats: dict[str, Any]) -> float | None:
    """``correct / total`` of a stats dict filled by :func:`causal_lm_loss`; None when it counted no token."""
    total = int(stats.get("total", 0))
    return None if total == 0 else float(stats.get("correct", 0)) / total


# --------------------------------------------------------------------------------------------------
# The loss


def _denominator(num_items_in_batch: Any, count: int, device: torch.device) -> torch.Tensor | float:
    if num_items_in_batch is None:
        return float(max(count, 1))
    if torch.is_tensor(num_items_in_batch):
        return num_items_in_batch.to(device=device, dtype=torch.float32).clamp_min(1)
    return float(max(num_items_in_batch, 1))


def _add_aux_loss(loss: torch.Tensor, outputs: Any, model: nn.Module) -> torch.Tensor:
    aux = getattr(outputs, "aux_loss", None)
    if aux is None:
        return loss
    coef = getattr(getattr(unwrap_model(model), "config", None), "router_aux_loss_coef", 0.0) or 0.0
    return loss + coef * aux.to(loss.device)


def full_logits_loss(model: nn.Module, inputs: dict[str, Any], *, num_items_in_batch: Any = None,
                     return_outputs: bool = False, stats: dict[str, Any] | None = None) -> Any:
    """The standard path: logits at every position, then shifted cross-entropy over labels ≠ -100."""
    labels = inputs["labels"]
    model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")}
    model_inputs["use_cache"] = False
    outputs = model(**model_inputs)
    logits = outputs.logits[:, :-1, :].float()
    targets = labels[:, 1:].to(logits.device)
    count = int((targets != IGNORE_INDEX).sum())
    loss_sum = nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    if stats is not None:
        with torch.no_grad():
            keep = targets != IGNORE_INDEX
            _add_stats(stats, (logits.argmax(dim=-1)[keep] == targets[keep]).sum(), count)
    loss = loss_sum / _denominator(num_items_in_batch, count, loss_sum.device)
    loss = _add_aux_loss(loss, outputs, model)
    return (loss, outputs) if return_outputs else loss


_CHECKED_ATTR = "_ftcore_loss_only_head_ok"


def causal_lm_loss(
    model: nn.Module,
    inputs: dict[str, Any],
    *,
    num_items_in_batch: Any = None,
    loss_only_head: bool = True,
    return_outputs: bool = False,
    chunk_tokens: int | None = None,
    stats: dict[str, Any] | None = None,
    head_impl: str = "ftcore",
) -> Any:
    """Causal-LM loss of ``model`` on ``inputs`` (``input_ids``, ``labels``, and ``attention_mask`` or packed
    ``position_ids``).

    ``num_items_in_batch``: label tokens of the whole effective batch (the Trainer's count over
    ``labels[..., 1:]``); the loss is then ``sum / num_items_in_batch``, else the mean over this batch's tokens.
    ``loss_only_head``: apply the LM head only at positions that carry loss (same value and gradients).
    ``return_outputs``: also return the model outputs (in loss-only mode their ``logits`` hold the last position
    only). ``chunk_tokens``: positions per head chunk (default: 256 MiB of float32 logits). ``stats``: a dict
    that accumulates the token accuracy's counts (``correct``, ``total``: label positions only; read it with
    :func:`token_accuracy`), taken from the chunked logits in loss-only mode (no full logits tensor).
    ``head_impl``: ``"liger"`` computes the head's loss with Liger's kernel on CUDA (``train.liger``).
    """
    base = unwrap_model(model)
    use_fast = loss_only_head and getattr(base, _CHECKED_ATTR, True) and _accepts_logits_to_keep(base)
    if use_fast:
        try:
            decoder, head = find_decoder_and_head(model)
        except LookupError:
            use_fast = False
    if not use_fast:
        if loss_only_head and not hasattr(base, _CHECKED_ATTR):
            log.warning("loss-only LM head is not available for %s; using full logits", type(base).__name__)
            _mark(base, False)
        return full_logits_loss(model, inputs, num_items_in_batch=num_items_in_batch, return_outputs=return_outputs,
                                stats=stats)

    labels = inputs["labels"]
    model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")}
    model_inputs["use_cache"] = False
    # after the one-time check below, a transformers model projects no position at all (an empty index tensor:
    # transformers' slice_logits_to_keep); one position per row still costs a (batch × vocab × hidden) product,
    # which bf16 on the CPU turns into a batched matmul over an expanded copy of the head (~1 s per step)
    model_inputs["logits_to_keep"] = 1
    if getattr(base, _CHECKED_ATTR, False) and not return_outputs and _native(base) and not _compiled(model):
        model_inputs["logits_to_keep"] = torch.empty(0, dtype=torch.long, device=labels.device)
    captured: list[torch.Tensor] = []

    def grab(_module: nn.Module, _args: Any, output: Any) -> None:
        hs = getattr(output, "last_hidden_state", None)
        captured.append(hs if hs is not None else output[0])

    handle = decoder.register_forward_hook(grab)
    try:
        outputs = model(**model_inputs)
    finally:
        handle.remove()
    if not captured:
        _mark(base, False)
        log.warning("loss-only LM head: the decoder of %s was not called; using full logits", type(base).__name__)
        return full_logits_loss(model, inputs, num_items_in_batch=num_items_in_batch, return_outputs=return_outputs,
                                stats=stats)
    hidden = captured[-1]

    if not hasattr(base, _CHECKED_ATTR):
        ok = _same_logits(head, hidden[:, -1:, :], outputs.logits[:, -1:, :])
        _mark(base, ok)
        if not ok:
            log.warning("%s transforms logits after its LM head; the loss-only head is off for it",
                        type(base).__name__)
            return full_logits_loss(model, inputs, num_items_in_batch=num_items_in_batch,
                                    return_outputs=return_outputs, stats=stats)

    targets = labels[:, 1:].to(hidden.device)
    keep = targets != IGNORE_INDEX
    selected = hidden[:, :-1, :][keep]
    wanted = targets[keep]
    if wanted.numel() == 0:
        loss_sum = hidden.sum() * 0.0  # keeps every parameter in the graph (DDP)
    else:
        loss_sum = head_cross_entropy_sum(selected, wanted, head, chunk_tokens=chunk_tokens, stats=stats,
                                          impl=head_impl)
    loss = loss_sum / _denominator(num_items_in_batch, int(wanted.numel()), loss_sum.device)
    loss = _add_aux_loss(loss, outputs, model)
    return (loss, outputs) if return_outputs else loss


def _same_logits(head: nn.Module, hidden: torch.Tensor, logits: torch.Tensor) -> bool:
    """Whether the model's ``logits`` are ``head(hidden)``: in full precision, or under bf16 / fp16 autocast (mixed
    precision runs the model's forward under autocast — accelerate wraps it — but not the loss)."""
    with torch.no_grad():
        theirs = logits.float()
        mine = head(hidden).float()
        if mine.shape != theirs.shape:
            return False
        if torch.allclose(mine, theirs, rtol=1e-3, atol=1e-3):
            return True
        for dtype in (torch.bfloat16, torch.float16):
            try:
                with torch.autocast(hidden.device.type, dtype=dtype):
                    mine = head(hidden).float()
            except RuntimeError:  # autocast in this dtype not supported on this device
                continue
            if torch.allclose(mine, theirs, rtol=1e-2, atol=1e-2):
                return True
    return False


def _compiled(model: nn.Module) -> bool:
    """Whether torch.compile wraps ``model`` (a changed ``logits_to_keep`` would recompile its graph)."""
    m: Any = model
    for _ in range(10):
        if hasattr(m, "_orig_mod"):
            return True
        inner = m.get_base_model() if hasattr(m, "get_base_model") else getattr(m, "module", None)
        if not isinstance(inner, nn.Module) or inner is m:
            return False
        m = inner
    return False


def _native(base: nn.Module) -> bool:
    """A model class of transformers itself (its ``forward`` slices with ``slice_logits_to_keep``)."""
    return type(base).__module__.startswith("transformers.models.")


def _mark(base: nn.Module, ok: bool) -> None:
    try:
        object.__setattr__(base, _CHECKED_ATTR, ok)
    except Exception:  # pragma: no cover - exotic modules
        pass
