"""Pretrained Hugging Face causal LMs as arms (config key `pretrained`).

Such an arm skips training: `import_pretrained` writes the model into
``results/{experiment}/models/{name}/seed0/`` as a trained arm would be exported (one
``model.safetensors``, ``config.json``, the tokenizer files and ``train_summary.json``
with ``steps: -1`` and the source), so the dump, the analyses, the benchmarks and the
report read it like any other arm. A hub id is fetched only when the entry says
``hub: true``; otherwise ``path`` must be a local folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from tokattn.common.atomic_files import publish_dir

SUMMARY_NAME = "train_summary.json"


def import_pretrained(spec: Mapping, out_dir: str | Path) -> Path:
    """Write the pretrained model `spec` as an arm folder at `out_dir` (atomically); return it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import tokattn.training.byte_branch  # noqa: F401  (registers the byte-branch model class)
    from tokattn import __version__
    from tokattn.attention.head_decomposition import architecture
    from tokattn.training.model import parameter_counts

    source, hub = str(spec["path"]), bool(spec.get("hub", False))
    if not hub and not Path(source).is_dir():
        raise FileNotFoundError(
            f"pretrained arm {spec['name']!r}: {source} is not a local folder "
            "(set hub: true to fetch a hub id)"
        )
    kwargs = {"local_files_only": not hub, "revision": spec.get("revision")}
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"pretrained arm {spec['name']!r}: needs a fast tokenizer (byte spans)")
    arch = architecture(model)  # fail here, not in the dump, for an unsupported family
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        # One shard: later stages read model.safetensors by name.
        model.save_pretrained(tmp, safe_serialization=True, max_shard_size="10000GB")
        tokenizer.save_pretrained(tmp)
        summary = {
            "model": spec["name"],
            "tokenizer": spec.get("tokenizer_name") or f"{spec['name']}-tokenizer",
            "seed": 0,
            "steps": -1,
            "pretrained": {"path": source, "hub": hub, "revision": spec.get("revision")},
            "model_family": arch.family,
            "params": parameter_counts(model),
            "context_tokens": getattr(model.config, "max_position_embeddings", None)
            or getattr(model.config, "n_positions", None),
            "tokattn_version": __version__,
        }
        (tmp / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        publish_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
