"""A real attention store of a tiny random model, dumped once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.injection import tiny_store


@pytest.fixture(scope="session")
def real_store(tmp_path_factory) -> Path:
    return tiny_store(tmp_path_factory.mktemp("faults") / "attention")
