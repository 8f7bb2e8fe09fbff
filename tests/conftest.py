"""Session-wide test settings shared by every test package."""

from __future__ import annotations

import os

import pytest

from tests import parallel

# Tests never reach the Hugging Face hub: set before `datasets`/`huggingface_hub` are
# imported anywhere (both read these variables at import time).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Parallel by default on up to 4 cores (tests/parallel.py); `-n 0` runs serially."""
    parallel.enable_by_default(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist: pass the controller's distribution mode to each worker."""
    node.workerinput.update(parallel.worker_input(node.config))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests sharing a session or module fixture run on one worker; tiny DAG first."""
    parallel.group_items(config, items)
