"""Loading PolyLM and SeqGPT: :class:`ftcore.ModelLoader` subclasses named in each catalog entry's ``loader``.

* :class:`PolyLMLoader`: the tokenizer is loaded slow (``use_fast=False``) with ``legacy=True`` and the repo's
  code allowed, as ms-swift does (PolyLM's fast conversion splits its multilingual sentencepiece pieces
  differently).
* :class:`SeqGPTLoader`: transformers' BLOOM classes as they are.
"""

from __future__ import annotations

from typing import Any

from ftcore import ModelLoader
from ftcore.models.loading import load_tokenizer

#: the keywords PolyLM's tokenizer is loaded with
POLYLM_TOKENIZER_KWARGS: dict[str, Any] = {"use_fast": False, "legacy": True}


class PolyLMLoader(ModelLoader):
    """PolyLM-13B: the slow, legacy sentencepiece tokenizer."""

    family = "PolyLM"

    def load_tokenizer(self) -> Any:
        return load_tokenizer(self.model_dir, trust_remote_code=self.trust_remote_code, **POLYLM_TOKENIZER_KWARGS)


class SeqGPTLoader(ModelLoader):
    """SeqGPT-560M as transformers loads it (BLOOM)."""

    family = "SeqGPT"
