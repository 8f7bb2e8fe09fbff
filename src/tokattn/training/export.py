"""Export a trained model as a Hugging Face folder that needs no tokattn to load.

The folder holds what `save_pretrained` writes for the model (config.json,
generation_config.json, model.safetensors) and the tokenizer (tokenizer.json,
tokenizer_config.json), the tokenizer stage's provenance (tokattn_tokenizer.json), the
training log (train_log.csv) and the run summary (train_summary.json). It is written to a
temporary sibling and renamed into place, so it is complete or absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from tokattn.common.atomic_files import publish_dir
from tokattn.common.model_checks import check_finite_weights
from tokattn.training.model import ArmSpec
from tokattn.training.train_log import TrainLog

SUMMARY_NAME = "train_summary.json"
LOG_NAME = "train_log.csv"


def _portable_tokenizer_config(path: Path) -> None:
    """Name the generic fast-tokenizer class, which transformers 4.x and 5.x both load.

    transformers 5 writes its own class name (TokenizersBackend), unknown to 4.x.
    """
    config = json.loads(path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def export_model(
    model: torch.nn.Module,
    spec: ArmSpec,
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    log: TrainLog,
    summary: dict,
) -> None:
    """Write a `save_pretrained` folder (safetensors + tokenizer + log + summary) atomically."""
    from tokattn.tokenizing.tokenization import METADATA_FILE, load_tokenizer

    check_finite_weights(model, f"{spec.name} (not exported)")
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer = load_tokenizer(tokenizer_dir)
    tokenizer.model_max_length = spec.context_tokens
    tokenizer.save_pretrained(tmp)
    _portable_tokenizer_config(tmp / "tokenizer_config.json")
    provenance = Path(tokenizer_dir) / METADATA_FILE
    if provenance.is_file():
        shutil.copy2(provenance, tmp / METADATA_FILE)
    log.write_csv(tmp / LOG_NAME)
    (tmp / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    publish_dir(tmp, out_dir)
