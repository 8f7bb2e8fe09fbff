"""Fixtures shared by several test folders of tests/unit/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.viewer.stores import session_tiny_stores


@pytest.fixture(scope="session")
def tiny_stores(tmp_path_factory) -> dict[str, Path]:
    """Real attention stores of tiny byte and BPE models (the viewer and the CLI read them)."""
    return session_tiny_stores(tmp_path_factory)
