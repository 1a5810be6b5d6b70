"""Every model id of ms-swift's LLM guide is in the catalog once all of ftcore's family plugins are installed (as
in CI and ``nox -s tests``), read through the real command (``ftcore models --json``): the core imports no plugin."""

from __future__ import annotations

import json
import subprocess
import sys

#: ms-swift's 47 model ids (its model table), by family plugin
MS_SWIFT_MODELS = {
    "ftcore-qwen": ["qwen-7b", "qwen-7b-chat", "qwen-14b", "qwen-14b-chat", "qwen-7b-chat-int4",
                    "qwen-14b-chat-int4", "qwen-7b-chat-int8", "qwen-14b-chat-int8", "qwen-vl", "qwen-vl-chat",
                    "qwen-vl-chat-int4"],
    "ftcore-baichuan": ["baichuan-7b", "baichuan-13b", "baichuan-13b-chat", "baichuan2-7b", "baichuan2-7b-chat",
                        "baichuan2-13b", "baichuan2-13b-chat", "baichuan2-7b-chat-int4", "baichuan2-13b-chat-int4"],
    "ftcore-chatglm": ["chatglm2-6b", "chatglm2-6b-32k"],
    "ftcore-llama": ["llama2-7b", "llama2-13b", "llama2-70b", "llama2-7b-chat", "llama2-13b-chat",
                     "llama2-70b-chat"],
    "ftcore-openbuddy": ["openbuddy-llama2-13b-chat", "openbuddy-llama-65b-chat", "openbuddy-llama2-70b-chat",
                         "openbuddy-mistral-7b-chat"],
    "ftcore-internlm": ["internlm-7b", "internlm-7b-chat", "internlm-7b-chat-8k", "internlm-20b",
                        "internlm-20b-chat"],
    "ftcore-xverse": ["xverse-7b", "xverse-7b-chat", "xverse-13b", "xverse-13b-chat"],
    "ftcore-mistral": ["mistral-7b", "mistral-7b-chat"],
    "ftcore-ziya": ["ziya2-13b", "ziya2-13b-chat"],
    "ftcore-damo": ["polylm-13b", "seqgpt-560m"],
}


def test_the_table_has_47_ids() -> None:
    ids = [m for models in MS_SWIFT_MODELS.values() for m in models]
    assert len(ids) == len(set(ids)) == 47


def test_every_ms_swift_model_id_is_in_the_catalog() -> None:
    out = subprocess.run([sys.executable, "-m", "ftcore", "models", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    listed = {row["name"]: row for row in json.loads(out.stdout)}
    missing = [m for models in MS_SWIFT_MODELS.values() for m in models if m not in listed]
    assert missing == []
    for plugin, models in MS_SWIFT_MODELS.items():
        for name in models:
            assert str(listed[name]["plugin"]).startswith(plugin), (name, listed[name]["plugin"])
