"""Headless Chromium through its WebDriver (Debian's ``chromium`` and ``chromium-driver``).

Without them the browser tests are skipped with the command that installs them, unless
``PINGJING_REQUIRE_BROWSER=1`` (``.ci/run`` sets it): then they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver fonts-noto-cjk"
DESKTOP = (1366, 768)
PHONE = (390, 844)


def browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    if not os.path.exists(CHROMEDRIVER):
        return f"Chromium's WebDriver is missing: {INSTALL}"
    return None


def chrome() -> Iterator[Any]:
    """A fresh headless Chromium with its own profile, closed afterwards."""
    missing = browser_missing()
    if missing:
        if os.environ.get("PINGJING_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PINGJING_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pingjing-chrome-")
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(flag)
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
