"""`pushfeed report` renders offline in headless Chromium, and a screenshot is taken."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import binary


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: scripts/test installs Debian's chromium package")


def test_report_renders_offline_and_is_screenshotted(tmp_path: Path):
    data = tmp_path / "data"
    subprocess.run([binary(), "run", "--quiet", "--events", "6000", "--days", "7", "--seed", "4", "--data-dir", str(data)], check=True)
    html = tmp_path / "report.html"
    subprocess.run([binary(), "report", "--data-dir", str(data), "--output", str(html)], check=True, capture_output=True)
    text = html.read_text()
    for title in ("Events per hour by type", "Funnel per campaign", "Opens by local hour and weekday", "Customers by preferred hour"):
        assert title in text
    assert "<script" not in text and "src=" not in text and "href=" not in text, "the report needs no network"
    shot = tmp_path / "report.png"
    profile = tmp_path / "profile"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--window-size=1200,2200", f"--screenshot={shot}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000, "a blank page screenshots to a few KB"
    keep = os.environ.get("PUSHFEED_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
