"""A trained tokenizer on disk: the folder's files, special tokens, atomic save, load, hash.

The folder opens with ``transformers.AutoTokenizer.from_pretrained``:

- ``tokenizer.json``: the `tokenizers` pipeline (normalizer, pre-tokenizer, model,
  decoder, BOS post-processor);
- ``tokenizer_config.json`` / ``special_tokens_map.json``: the generic fast class and
  the special tokens, the same in every kind;
- ``tokattn_tokenizer.json``: spec, seed, training data size and the SHA-256 of
  ``tokenizer.json`` (what later stages record).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tokenizers import Tokenizer

SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
}
SPECIAL_TOKEN_LIST = list(SPECIAL_TOKENS.values())  # ids 0..3 in every kind
METADATA_FILE = "tokattn_tokenizer.json"
# No model is attached yet: a generous bound that never truncates; the model stage
# saves its own copy with its context length.
DEFAULT_MODEL_MAX_LENGTH = 1 << 20


def _tokenizer_config(model_max_length: int) -> dict:
    return {
        # The generic fast class name loads in transformers 4.x and 5.x alike.
        "tokenizer_class": "PreTrainedTokenizerFast",
        **SPECIAL_TOKENS,
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
        "padding_side": "right",
        "model_input_names": ["input_ids", "attention_mask"],
    }


def file_sha256(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def save_tokenizer(
    tok: Tokenizer,
    out_dir: str | Path,
    metadata: Mapping,
    model_max_length: int = DEFAULT_MODEL_MAX_LENGTH,
) -> Path:
    """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json and metadata atomically.

    Files are written to a temporary folder beside `out_dir`, checked to load (a folder
    that does not load is never published), then moved in one by one with os.replace,
    tokenizer.json last; other files in `out_dir` (metrics.json) are left alone.
    Returns `out_dir`.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        tok.save(str(tmp / "tokenizer.json"))
        _write_json(tmp / "tokenizer_config.json", _tokenizer_config(model_max_length))
        _write_json(tmp / "special_tokens_map.json", SPECIAL_TOKENS)
        meta = {**metadata, "tokenizer_sha256": file_sha256(tmp / "tokenizer.json")}
        _write_json(tmp / METADATA_FILE, meta)
        load_tokenizer(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in (
            "special_tokens_map.json",
            "tokenizer_config.json",
            METADATA_FILE,
            "tokenizer.json",
        ):
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _folder(path: str | Path) -> Path:
    path = Path(path)
    return path.parent if path.name == "tokenizer.json" else path


# Classes AutoTokenizer maps these folders to. Loading them directly gives the same
# object without AutoTokenizer's import of the model registry (and torch: seconds per job).
_GENERIC_FAST_CLASSES = frozenset({"PreTrainedTokenizerFast", "TokenizersBackend"})


def load_tokenizer(path: str | Path):
    """Return the PreTrainedTokenizerFast saved in folder `path` (or its tokenizer.json).

    Folders whose tokenizer_config.json names the generic fast class (every folder this
    stage writes) load through that class, as AutoTokenizer would; any other folder
    loads through AutoTokenizer.
    """
    folder = _folder(path)
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"tokenizer folder {folder}: no tokenizer.json (train it with the tokenizers stage)"
        )
    try:
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text("utf-8")) if config_path.is_file() else {}
        if config.get("tokenizer_class") in _GENERIC_FAST_CLASSES:
            from transformers import PreTrainedTokenizerFast as loader
        else:
            from transformers import AutoTokenizer as loader
        tok = loader.from_pretrained(str(folder))
    except Exception as exc:  # noqa: BLE001  (any parse failure means a corrupt folder)
        raise ValueError(f"tokenizer folder {folder}: could not be loaded ({exc})") from exc
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"tokenizer folder {folder}: not a fast (tokenizers-backed) tokenizer")
    return tok


def tokenizer_metadata(path: str | Path) -> dict:
    """Return the contents of tokattn_tokenizer.json in a tokenizer folder."""
    meta_path = _folder(path) / METADATA_FILE
    try:
        with open(meta_path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path} not found: not a tokattn tokenizer folder") from None


def tokenizer_hash(path: str | Path) -> str:
    """Return the SHA-256 of a folder's tokenizer.json (what later stages record)."""
    return file_sha256(_folder(path) / "tokenizer.json")
