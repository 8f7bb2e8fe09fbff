"""Corpus splits and the tiny evaluation config for the generator tests."""

from __future__ import annotations

import pytest

from tests.eval_corpus import corpus_docs, tiny_eval_config


@pytest.fixture(scope="session")
def test_docs():
    return corpus_docs("test")


@pytest.fixture(scope="session")
def train_docs():
    return corpus_docs("train")


@pytest.fixture(scope="session")
def eval_cfg() -> dict:
    return tiny_eval_config()
