"""Headless Chromium (Debian `chromium` + `chromium-driver`) driven by Selenium.

Without a browser these tests fail with a message saying what to install: CI installs
both packages (.ci/run), so a missing browser is a broken setup, not a reason to skip.
Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    for path in ("/usr/bin/chromium", "/usr/lib/chromium/chromium"):
        if names is CHROMIUM and Path(path).is_file():
            return path
    return None


@pytest.fixture(scope="session")
def driver():
    """A headless Chromium WebDriver that keeps the browser console log."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[test]'")
    browser, chromedriver = _which(CHROMIUM), _which(DRIVER)
    if browser is None or chromedriver is None:
        pytest.fail(
            "headless browser tests need Chromium and its driver: "
            "apt-get install -y chromium chromium-driver (Debian; .ci/run does this)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--allow-file-access-from-files",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(chromedriver), options=options)
    drv.set_script_timeout(120)
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def tiny_stores(tmp_path_factory) -> dict[str, Path]:
    from tests.unit.viewer.stores import session_tiny_stores

    return session_tiny_stores(tmp_path_factory)


@pytest.fixture(scope="session")
def long_store(tmp_path_factory) -> Path:
    from tests.unit.viewer.stores import synthetic_store

    return synthetic_store(tmp_path_factory.mktemp("viewer-long") / "long.h5", n_tokens=2048)
