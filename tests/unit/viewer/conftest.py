"""Fixtures of the viewer tests: real tiny-model stores and a synthetic long store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.viewer.stores import session_tiny_stores, synthetic_store


@pytest.fixture(scope="session")
def tiny_stores(tmp_path_factory) -> dict[str, Path]:
    return session_tiny_stores(tmp_path_factory)


@pytest.fixture(scope="session")
def medium_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("viewer-medium") / "medium.h5"
    return synthetic_store(path, probe_id="medium-0", n_tokens=300, n_layers=2, n_heads=3)
