"""What every pairwise preference stage shares (dpo here; orpo, simpo, cpo and rm subclass it): the pair data, the
padding-free pair batches, the per-sequence log-probs with the LM head applied only on answer tokens, and the
reference model (the base with the LoRA adapter disabled, a frozen copy, another model, or precomputed).

A batch of ``B`` pairs is ``B`` rows ``[prompt + chosen | prompt + rejected]`` (padding-free: ``position_ids``
restart at the second sequence, so the two never attend to each other, as packed SFT samples; see
:mod:`ftcore.data.packing`), or, for a model that cannot isolate packed sequences, ``2B`` padded rows (chosen
first, then rejected: TRL's layout). ``seq_ids`` numbers the sequence each answer token belongs to (chosen of
pair ``k``: ``k``; its rejected: ``B + k``), so sums per sequence are one ``index_add``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ftcore.errors import FtcoreError
from ftcore.training.recipe import Recipe
from ftcore.training.steps import say
from ftcore.training.trainer import FtcoreTrainer

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
#: float32 logits held at once when the head runs on answer tokens only
CHUNK_BYTES = 256 * 1024 * 1024


@dataclass
class PairCollator:
    """Encoded pairs (``prompt_ids``, ``chosen_ids``, ``rejected_ids``; ``ref_chosen_logps`` /
    ``ref_rejected_logps`` when precomputed) → a batch for :func:`pair_logps`."""

    pad_token_id: int
    #: one row per pair with restarting position ids (else 2B padded rows with an attention mask)
    padding_free: bool = True
    #: flash-attention's varlen path: the whole batch as one row
    flatten: bool = False

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        b = len(features)
        seqs = []  # (ids, labels, sequence index)
        for side, key in ((0, "chosen_ids"), (1, "rejected_ids")):
            for k, f in enumerate(features):
                prompt, answer = list(f["prompt_ids"]), list(f[key])
                seqs.append((prompt + answer, [IGNORE_INDEX] * len(prompt) + answer, side * b + k))
        out: dict[str, Any] = {}
        if self.padding_free:
            rows = [[seqs[k], seqs[b + k]] for k in range(b)]
            if self.flatten:
                rows = [[s for row in rows for s in row]]
            out.update(_rows(rows, self.pad_token_id))
        else:
            out.update(_rows([[s] for s in seqs], self.pad_token_id, attention_mask=True))
        for key in ("ref_chosen_logps", "ref_rejected_logps"):
            if key in features[0]:
                out[key] = torch.tensor([float(f[key]) for f in features], dtype=torch.float32)
        return out


def _rows(rows: list[list[tuple[list[int], list[int], int]]], pad: int, attention_mask: bool = False
          ) -> dict[str, Any]:
    width = max(sum(len(s[0]) for s in row) for row in rows)
    n = len(rows)
    ids = torch.full((n, width), pad, dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    seq_ids = torch.full((n, width), -1, dtype=torch.long)
    position_ids = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for tokens, labs, index in row:
            m = len(tokens)
            ids[r, at:at + m] = torch.tensor(tokens)
            labels[r, at:at + m] = torch.tensor(labs)
            seq_ids[r, at:at + m] = index
            position_ids[r, at:at + m] = torch.arange(m)
            mask[r, at:at + m] = 1
            at += m
        if at < width:  # padding: its own position run, attended by no real token
            position_ids[r, at:] = torch.arange(width - at)
    out = {"input_ids": ids, "labels": labels, "seq_ids": seq_ids}
    if attention_mask:
        out["attention_mask"] = mask
    else:
        out["position_ids"] = position_ids
    return out


def _token_logps(hidden: torch.Tensor, targets: torch.Tensor, head: nn.Module) -> torch.Tensor:
    """log p(target) per selected position, the head applied chunk by chunk (recomputed in backward)."""
    from torch.utils.checkpoint import checkpoint

    vocab = int(getattr(head, "out_features", 0) or getattr(head, "weight", torch.empty(1, 1)).shape[0] or 1)
    chunk = max(1, CHUNK_BYTES // (4 * vocab))

    def piece(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -F.cross_entropy(head(h).float(), y, reduction="none")

    parts = []
    for i in range(0, hidden.shape[0], chunk):
        h, y = hidden[i:i + chunk], targets[i:i + chunk]
        parts.append(checkpoint(piece, h, y, use_reentrant=False) if torch.is_grad_enabled() else piece(h, y))
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


def _loss_only_head(model: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """(decoder, head) when the head may run on answer tokens alone: the model takes ``logits_to_keep`` and was
    not found to transform logits after its head (the check of :mod:`ftcore.training.loss`)."""
    from ftcore.training.loss import (
        _CHECKED_ATTR,
        _accepts_logits_to_keep,
        find_decoder_and_head,
        unwrap_model,
    )

    base = unwrap_model(model)
    if not getattr(base, _CHECKED_ATTR, True) or not _accepts_logits_to_keep(base):
        return None
    try:
        return find_decoder_and_head(model)
    except LookupError:
        return None


def _head_matches(model: nn.Module, head: nn.Module, hidden: torch.Tensor, logits: torch.Tensor) -> bool:
    """Once per model: the head applied to the last hidden state gives the model's own last logits (no
    soft-capping or scaling after the head); remembered on the model as :mod:`ftcore.training.loss` does."""
    from ftcore.training.loss import _CHECKED_ATTR, _mark, unwrap_model

    base = unwrap_model(model)
    if hasattr(base, _CHECKED_ATTR):
        return bool(getattr(base, _CHECKED_ATTR))
    with torch.no_grad():
        mine, theirs = head(hidden[:, -1:, :]).float(), logits[:, -1:, :].float()
        ok = mine.shape == theirs.shape and torch.allclose(mine, theirs, rtol=1e-3, atol=1e-3)
    _mark(base, ok)
    if not ok:
        log.warning("%s transforms logits after its LM head; the loss-only head is off for it", type(base).__name__)
    return ok


def pair_logps(model: nn.Module, batch: dict[str, Any], n_seqs: int, *, loss_only_head: bool = True
               ) -> dict[str, torch.Tensor]:
    """Per sequence (``n_seqs`` = 2 × pairs: chosen first): ``logps`` (sum of the answer tokens' log-probs),
    ``tokens`` (answer tokens), and ``token_logps`` / ``token_seq`` (each answer token's log-prob and sequence)."""
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "position_ids")}
    inputs["use_cache"] = False
    labels, seq_ids = batch["labels"], batch["seq_ids"]
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    parts = _loss_only_head(model) if loss_only_head else None
    if parts is not None:
        decoder, head = parts
        captured: list[torch.Tensor] = []

        def grab(_m: nn.Module, _a: Any, output: Any) -> None:
            hs = getattr(output, "last_hidden_state", None)
            captured.append(hs if hs is not None else output[0])

        handle = decoder.register_forward_hook(grab)
        try:
            outputs = model(**inputs, logits_to_keep=1)
        finally:
            handle.remove()
        if not captured or not _head_matches(model, head, captured[-1], outputs.logits):
            return pair_logps(model, batch, n_seqs, loss_only_head=False)
        hidden = captured[-1][:, :-1, :][keep]
        token_logps = _token_logps(hidden, targets[keep].to(hidden.device), head)
    else:
        logits = model(**inputs).logits[:, :-1, :].float()
        token_logps = -F.cross_entropy(logits[keep], targets[keep], reduction="none")
    token_seq = seq_ids[:, 1:][keep].to(token_logps.device)
    logps = torch.zeros(n_seqs, dtype=token_logps.dtype, device=token_logps.device).index_add(0, token_seq,
                                                                                            token_logps)
    tokens = torch.bincount(token_seq, minlength=n_seqs).to(token_logps.dtype)
    return {"logps": logps, "tokens": tokens, "token_logps": token_logps, "token_seq": token_seq}


def pairs_in(batch: dict[str, Any]) -> int:
    """The number of pairs of a collated batch (sequence ids run 0 … 2 × pairs − 1)."""
    return (int(batch["seq_ids"].max()) + 1) // 2 if batch["seq_ids"].numel() else 0


class ReferenceModel:
    """The reference log-probs of a batch: ``auto`` with a peft adapter = the base with the adapter disabled (no
    second model in memory); ``auto`` otherwise = a frozen copy of the starting weights; ``precompute`` = read
    from the batch (``ref_chosen_logps`` …); else a separately loaded model."""

    def __init__(self, kind: str, model: nn.Module | None = None):
        self.kind = kind  # "adapter" | "copy" | "model" | "precomputed"
        self.model = model

    @torch.no_grad()
    def logps(self, policy: nn.Module, batch: dict[str, Any], n_pairs: int, loss_only_head: bool) -> torch.Tensor:
        if self.kind == "precomputed":
            return torch.cat([batch["ref_chosen_logps"], batch["ref_rejected_logps"]])
        if self.kind == "adapter":
            peft = policy
            for _ in range(4):  # DDP / accelerate wrappers around the PeftModel
                if hasattr(peft, "disable_adapter"):
                    break
                peft = getattr(peft, "module", peft)
            with peft.disable_adapter():  # type: ignore[operator]
                return pair_logps(policy, batch, 2 * n_pairs, loss_only_head=loss_only_head)["logps"]
        assert self.model is not None
        return pair_logps(self.model, batch, 2 * n_pairs, loss_only_head=loss_only_head)["logps"]


#: the metrics every preference trainer logs (mean over the pairs since the last log)
REWARD_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
                  "logps/rejected")


class PreferenceTrainer(FtcoreTrainer):
    """The Trainer of the pairwise stages: reward metrics gathered over processes and logged per logging step
    (``eval_`` prefixed during evaluation). Subclasses implement :meth:`pair_loss`."""

    def __init__(self, *args: Any, stage_options: Any = None, reference: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.stage_options = stage_options
        self.reference = reference
        # the loss is a mean over pairs: the Trainer divides by the accumulation steps itself
        self.model_accepts_loss_kwargs = False
        self.loss_is_scaled_for_ga = False
        self._metrics: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "eval": defaultdict(list)}

    def pair_loss(self, model: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss, per-pair metric tensors named as :data:`REWARD_METRICS`) of one batch."""
        raise NotImplementedError

    @classmethod
    def scorer(cls, stage_options: Any, reference: Any = None, *, loss_only_head: bool = True) -> Any:
        """An instance for :meth:`pair_loss` alone, without the Trainer's set-up (``ftcore eval`` scores a
        checkpoint with it: the same rewards as in training). Its ``pair_loss`` may read ``stage_options``,
        ``reference``, ``loss_only_head`` and the class's own methods, nothing of the Trainer."""
        scorer = cls.__new__(cls)
        scorer.stage_options = stage_options
        scorer.reference = reference
        scorer.loss_only_head = loss_only_head
        return scorer

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        if model.training:
            self.tokens_seen += int((inputs["seq_ids"] >= 0).sum())
        loss, metrics = self.pair_loss(model, inputs)
        mode = "train" if model.training else "eval"
        for name, values in metrics.items():
            gathered = self.accelerator.gather_for_metrics(values.detach().float().reshape(-1))
            self._metrics[mode][name].extend(gathered.tolist())
        return (loss, {}) if return_outputs else loss

    def prediction_step(self, model: Any, inputs: dict[str, Any], prediction_loss_only: bool,
                        ignore_keys: Any = None) -> Any:
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _mean_metrics(self, mode: str) -> dict[str, float]:
        out = {name: sum(v) / len(v) for name, v in self._metrics[mode].items() if v}
        self._metrics[mode].clear()
        return out

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            logs = {**logs, **{k: round(v, 8) for k, v in self._mean_metrics("train").items()}}
        super().log(logs, *args, **kwargs)

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
        self._metrics["eval"].clear()
        output = super().evaluation_loop(*args, **kwargs)
        prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
        metrics = dict(output.metrics or {})
        metrics.update({f"{prefix}_{k}": v for k, v in self._mean_metrics("eval").items()})
        return output._replace(metrics=metrics)


class PreferenceRecipe(Recipe):
    """The steps of a pairwise preference stage: pair data, pair batches, the stage's Trainer (``trainer_class``),
    the reference model when the stage has one (``uses_reference``)."""

    stage = "preference"
    #: ``pair`` (chosen / rejected) or ``kto`` (single answers with a label): the rows the stage encodes
    data_kind: ClassVar[str] = "pair"
    #: the stage compares with a reference model (dpo; not orpo / simpo / cpo / rm)
    uses_reference: ClassVar[bool] = False
    #: the Trainer subclass computing the stage's loss
    trainer_class: ClassVar[type | None] = None
    #: pair batches may be padding-free where the model allows (False: one sequence per padded row)
    padding_free_pairs: ClassVar[bool] = True

    def options(self) -> Any:
        """The stage's validated options table (``[dpo]`` …)."""
        from ftcore.validation import stage_options

        return stage_options(self.cfg, self.stage)

    def build_template(self) -> None:
        """The run's template without its length cap: pairs are truncated in the prompt only (the data stage)."""
        from ftcore.templates import get_template

        t = self.cfg.template
        self.template = get_template(
            t.name, self.tokenizer, model_spec=self.spec, system=t.system, max_length=None,
            truncation=t.truncation, loss_on="last", train_on_prompt=False,
            **({"parse_special_in_content": True} if t.parse_special_in_content else {}))
        self.decide(template_name=self.template.spec.name)

    def prepare_data(self) -> None:
        """Load, normalize and encode the pairs; packing is "padding-free pairs" where the model isolates them."""
        from ftcore.data.packing import packing_support
        from ftcore.data.preference import prepare_preference_data

        cfg = self.cfg
        data = prepare_preference_data(cfg, self.template, self.tokenizer, kind=self.data_kind)
        n_val = len(data.validation) if data.validation is not None else 0
        self.has_eval = n_val > 0
        for source in data.report.sources:
            if not source.bad:
                say(f"data: {source.line()}")
        what = "pairs" if self.data_kind == "pair" else "rows"
        say(f"data: {len(data.train)} training {what}, {n_val} validation {what}")
        free = cfg.data.packing is not False and packing_support(self.model) is None
        if cfg.data.packing is True and not free:
            raise FtcoreError(f"{cfg.source}: data.packing: {packing_support(self.model)}; set data.packing = false")
        self.decide(packing=free)
        self.data = data

    def apply_tuner(self) -> None:
        """The tuner, then the reference model (``[<stage>] reference``, ``precompute_ref``)."""
        self.reference: ReferenceModel | None = None
        super().apply_tuner()
        if not self.uses_reference:
            return
        opts = self.options()
        if opts.reference != "auto":
            self.reference = ReferenceModel("model", self._load_reference(opts.reference))
        elif hasattr(self.model, "disable_adapter"):  # peft: the base is the adapter switched off
            self.reference = ReferenceModel("adapter")
        else:  # full / freeze …: a frozen copy of the starting weights
            self.reference = ReferenceModel("copy", _frozen_copy(self.model))
        say(f"reference model: {opts.reference if opts.reference != 'auto' else self.reference.kind}")
        if opts.precompute_ref:
            self.precompute_reference()

    def _load_reference(self, name: str) -> nn.Module:
        from ftcore.models import load, resolve_model

        key = "path" if Path(self.cfg.resolve_path(name)).is_dir() else "repo" if "/" in name else "name"
        model_section = {"name": None, "path": None, "repo": None, key: name}
        cfg = self.cfg.model_copy(update={"model": self.cfg.model.model_copy(update=model_section)})
        spec, folder = resolve_model(cfg)
        say(f"reference model: {folder}")
        model, _ = load(cfg, spec, folder, dtype=str(self.run_record.load_dtype))
        return _frozen_copy(model, copy=False)

    def precompute_reference(self) -> None:
        """Reference log-probs of every pair, once, added as columns; cached next to the encoded data."""
        assert self.reference is not None
        fp = hashlib.sha256(json.dumps([self.data.fingerprints.get("data"), self.run_record.model_dir,
                                        self.options().reference, self.run_record.load_dtype]).encode()
                            ).hexdigest()[:16]
        folder = Path(self.data.cache_dir) if self.data.cache_dir else None
        for part in ("train", "validation"):
            ds = getattr(self.data, part)
            if ds is None:
                continue
            cache = folder / f"ref-{fp}-{part}.json" if folder else None
            if cache is not None and cache.is_file():
                values = json.loads(cache.read_text())
            else:
                values = self._reference_logps(ds)
                if cache is not None:
                    cache.write_text(json.dumps(values))
            ds = ds.add_column("ref_chosen_logps", values[0]).add_column("ref_rejected_logps", values[1])
            setattr(self.data, part, ds)
        say(f"reference log-probs precomputed ({'cached' if folder else 'not cached'})")
        self.reference = ReferenceModel("precomputed")

    def _reference_logps(self, ds: Any) -> list[list[float]]:
        from torch.utils.data import DataLoader

        collator = self.collator()
        chosen: list[float] = []
        rejected: list[float] = []
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        for batch in DataLoader(ds, batch_size=max(1, self.cfg.train.batch_size), collate_fn=collator):
            batch = {k: v.to(device) for k, v in batch.items()}
            n = pairs_in(batch)
            ref = self.reference.logps(self.model, batch, n, self.cfg.train.loss_only_head)  # type: ignore[union-attr]
            chosen += ref[:n].tolist()
            rejected += ref[n:].tolist()
        self.model.train(was_training)
        return [chosen, rejected]

    def collator(self) -> PairCollator:
        from ftcore.data.collate import pad_token_id
        from ftcore.data.packing import uses_flash_attention

        free = bool(self.run_record.packing)
        return PairCollator(pad_token_id(self.tokenizer), padding_free=free,
                            flatten=free and uses_flash_attention(self.model))

    def trainer_parts(self) -> tuple[Any, Any]:
        """The stage's Trainer with its options and reference bound, and the pair collator."""
        from functools import partial

        if self.trainer_class is None:
            raise FtcoreError(f"stage {self.stage!r}: its recipe names no trainer_class")
        return partial(self.trainer_class, stage_options=self.options(),
                       reference=self.reference if self.uses_reference else None), self.collator()


def _frozen_copy(model: nn.Module, copy: bool = True) -> nn.Module:
    import copy as copying

    ref = copying.deepcopy(model) if copy else model
    ref.eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref
