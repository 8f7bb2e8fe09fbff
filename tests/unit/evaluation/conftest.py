"""Tiny random Llama folders (byte-level and BPE tokenizer), built once per session."""

from __future__ import annotations

import pytest

from tests.tiny_models import save_tiny_model


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny_models")
    return {kind: save_tiny_model(root / kind, kind, context=96) for kind in ("byte", "bpe")}


@pytest.fixture(scope="session")
def scoring_models(model_dirs) -> dict:
    from tokattn.evaluation.model_io import load_scoring_model

    return {kind: load_scoring_model(path, device="cpu") for kind, path in model_dirs.items()}
