"""Fixtures of the viewer tests: a synthetic long store (`tiny_stores`: tests/unit/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.viewer.stores import synthetic_store


@pytest.fixture(scope="session")
def medium_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("viewer-medium") / "medium.h5"
    return synthetic_store(path, probe_id="medium-0", n_tokens=300, n_layers=2, n_heads=3)
