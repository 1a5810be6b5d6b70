"""Model FLOPs of a training step, from the model's config, for model FLOPs utilisation (MFU).

MFU = model FLOPs done per second / the device's peak FLOP/s (:func:`ftcore.models.peak.peak_flops`). Model
FLOPs count the useful matrix products of forward and backward once — not what gradient checkpointing
recomputes, not padding added by the padding collator, not norms, activations or the optimizer (all O(params) or
O(tokens × hidden), small next to the products). A multiply-add is 2 FLOPs. Per step (``T`` tokens the model
ran on, ``T_lab`` label tokens, ``C`` the attention context: the sum over tokens of the keys each attends to —
its position in its own sample + 1, causal, packed samples apart):

    layers     (6 if the base trains else 4) × W × T  −  (2 × W_qkv0 × T when the base and embedding are frozen)
    adapters   6 × A × T
    attention  12 × L × n_heads × head_dim × C
    LM head    (6 if the head trains else 4) × V × H × T_head,  T_head = T_lab with the loss-only head, else T

- ``W``: the matmul weights of all decoder layers per token: q (H × n_heads·head_dim), k and v
  (H × n_kv·head_dim each), o (n_heads·head_dim × H), the MLP 3 × H × I (gate, up, down); a mixture of experts
  counts the experts each token is routed to (``num_experts_per_tok`` × 3 × H × I_expert), its shared expert and
  the router (H × n_experts).
- Forward is 2 FLOPs per weight per token; backward 2 more for the input's gradient and 2 more for the weight's
  gradient when the weight trains: 6 × W for full fine-tuning, 4 × W for frozen weights (LoRA, QLoRA …). Layer 0's
  q, k and v read the output of a frozen embedding, so with a frozen base nothing asks for their input's gradient:
  ``W_qkv0`` (their weights) costs 2, not 4.
- ``A``: the trained parameters outside the base (LoRA's A and B: forward 2·r·(in+out), backward twice that).
- Attention: per layer and (query, key) pair, Q·Kᵀ and P·V are 2 × n_heads × head_dim FLOPs each forward;
  backward computes four products of the same size (dQ, dK, dP, dV): 12 in all.
- LM head: a V × H matrix; the loss-only head runs it only where a label carries loss.

``tests/training/throughput/test_mfu.py`` checks the formula against a hand count on a small Qwen2 config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FlopsModel", "batch_counts", "mfu"]


@dataclass(frozen=True)
class FlopsModel:
    """What one token costs; :meth:`step_flops` adds the per-batch counts."""

    #: matmul weights of all decoder layers used per token (MoE: the routed experts only)
    layer_weights: int
    #: weights of layer 0's q, k, v (no input gradient when the base and the embedding are frozen)
    first_qkv_weights: int
    #: vocab × hidden
    head_weights: int
    #: layers × heads × head_dim
    attention_width: int
    #: trained parameters outside the base weights (LoRA A / B …); 0 when the base trains
    adapter_weights: int = 0
    base_trained: bool = False
    head_trained: bool = False
    loss_only_head: bool = True

    @classmethod
    def from_config(cls, config: Any, *, adapter_weights: int = 0, base_trained: bool = False,
                    head_trained: bool | None = None, loss_only_head: bool = True) -> FlopsModel:
        """From a transformers config (a multimodal model's text config is used)."""
        c = config.get_text_config() if hasattr(config, "get_text_config") else config
        h = int(c.hidden_size)
        layers = int(c.num_hidden_layers)
        heads = int(c.num_attention_heads)
        kv = int(getattr(c, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(c, "head_dim", None) or h // heads)
        qkv = h * heads * head_dim + 2 * h * kv * head_dim
        attn = qkv + heads * head_dim * h
        experts = int(getattr(c, "num_experts", None) or getattr(c, "num_local_experts", None) or 0)
        routed = int(getattr(c, "num_experts_per_tok", None) or 0)
        if experts and routed:
            per_expert = int(getattr(c, "moe_intermediate_size", None) or c.intermediate_size)
            shared = int(getattr(c, "shared_expert_intermediate_size", None) or 0)
            mlp = routed * 3 * h * per_expert + 3 * h * shared + h * experts
        else:
            mlp = 3 * h * int(c.intermediate_size)
        return cls(layer_weights=layers * (attn + mlp), first_qkv_weights=qkv,
                   head_weights=int(c.vocab_size) * h, attention_width=layers * heads * head_dim,
                   adapter_weights=0 if base_trained else adapter_weights, base_trained=base_trained,
                   head_trained=base_trained if head_trained is None else head_trained,
                   loss_only_head=loss_only_head)

    @classmethod
    def from_model(cls, model: Any, *, loss_only_head: bool = True) -> FlopsModel | None:
        """From a (peft-wrapped …) causal LM: the base trains when most parameters do (full fine-tuning, freeze
        with most layers open); otherwise every trained parameter counts as an adapter weight, except a trained
        LM head (peft ``modules_to_save``). None when the config lacks the sizes."""
        from ftcore.training.loss import find_decoder_and_head, unwrap_model

        base = unwrap_model(model)
        config = getattr(base, "config", None)
        total = trained = 0
        for p in model.parameters():
            total += p.numel()
            if p.requires_grad:
                trained += p.numel()
        try:
            _, head = find_decoder_and_head(model)
            head_params = [p for p in head.parameters() if p.requires_grad]
        except LookupError:
            head_params = []
        head_trained = bool(head_params)
        base_trained = total > 0 and trained > total / 2
        adapters = trained - sum(p.numel() for p in head_params)
        try:
            return cls.from_config(config, adapter_weights=max(adapters, 0), base_trained=base_trained,
                                   head_trained=head_trained or base_trained, loss_only_head=loss_only_head)
        except (AttributeError, TypeError, ValueError, ZeroDivisionError):
            return None

    def step_flops(self, tokens: int, label_tokens: int, context: int) -> float:
        """Model FLOPs of forward + backward over ``tokens`` tokens (see the module's formula)."""
        layers = (6 if self.base_trained else 4) * self.layer_weights * tokens
        if not self.base_trained:
            layers -= 2 * self.first_qkv_weights * tokens
        adapters = 6 * self.adapter_weights * tokens
        attention = 12 * self.attention_width * context
        head_tokens = label_tokens if self.loss_only_head else tokens
        head = (6 if self.head_trained else 4) * self.head_weights * head_tokens
        return float(layers + adapters + attention + head)

    def per_token(self, seq_len: int, label_share: float = 1.0) -> float:
        """FLOPs per token of rows of ``seq_len`` causal tokens with ``label_share`` of them carrying loss."""
        return self.step_flops(seq_len, round(seq_len * label_share), seq_len * (seq_len + 1) // 2) / seq_len


def batch_counts(inputs: dict[str, Any]) -> tuple[int, int, int]:
    """``(tokens, label tokens, attention context)`` of a training batch: real tokens (the attention mask's; in
    packed rows every position but the padding at a row's end: its last sequence when no label in it carries
    loss), label tokens over ``labels[:, 1:]``, context from ``position_ids`` (packed), the attention mask, or
    causal rows."""
    import torch

    ids = inputs.get("input_ids")
    mask = inputs.get("attention_mask")
    labels = inputs.get("labels")
    parts: list[Any] = []
    if mask is not None and mask.dim() == 2:
        m = mask.long()
        parts += [m.sum(), (m.cumsum(dim=1) * m).sum()]
    elif ids is not None:
        pos = inputs.get("position_ids")
        if pos is None:
            s = ids.shape[-1]
            parts += [torch.tensor(ids.numel()), torch.tensor(ids.numel() // max(s, 1) * s * (s + 1) // 2)]
        else:
            real = _packed_real_positions(pos, labels)
            parts += [real.sum(), ((pos.long() + 1) * real).sum()]
    else:
        return 0, 0, 0
    label_count = (labels[..., 1:] != -100).sum() if labels is not None else torch.tensor(0)
    tokens, context = (int(v) for v in torch.stack([p.to("cpu") for p in parts]).tolist())
    return tokens, int(label_count), context


def _packed_real_positions(pos: Any, labels: Any) -> Any:
    """1 where a packed row holds a real token: the row's last sequence (from its last position id 0) is padding
    when none of its labels carries loss (the collator pads with its own position run and labels -100)."""
    import torch

    width = pos.shape[-1]
    idx = torch.arange(width, device=pos.device).expand_as(pos)
    last_start = torch.where(pos == 0, idx, torch.zeros_like(idx)).amax(dim=-1, keepdim=True)
    tail = idx >= last_start
    if labels is None:
        return torch.ones_like(pos, dtype=torch.long)
    tail_trains = ((labels != -100) & tail).any(dim=-1, keepdim=True)
    return (~(tail & ~tail_trains)).long()


def mfu(flops: float, seconds: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation (0..1) of ``flops`` done in ``seconds`` on a device of ``peak`` FLOP/s."""
    if not peak or seconds <= 0:
        return None
    return flops / seconds / peak
