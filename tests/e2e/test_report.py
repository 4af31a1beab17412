"""`pushfeed report` is one to forward: checked as a reader sees it, in headless Chromium
(a screenshot, its pixels looked at), and by what the page says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from conftest import binary


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: scripts/test installs Debian's chromium package")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str, Path]:
    tmp = tmp_path_factory.mktemp("report")
    data = tmp / "data"
    subprocess.run([binary(), "run", "--quiet", "--events", "6000", "--days", "7", "--seed", "4", "--data-dir", str(data)],
                   check=True, capture_output=True)
    html = tmp / "report.html"
    subprocess.run([binary(), "report", "--data-dir", str(data), "--output", str(html)], check=True, capture_output=True)
    return data, html.read_text(), html


def test_the_page_says_what_a_reader_needs(report):
    _, text, _ = report
    assert "<script" not in text and "src=" not in text and "href=" not in text, "the report needs no network"
    # The period and when it was made, not a folder path, in the title.
    title = re.search(r"<h1>(.*?)</h1>", text).group(1)
    assert re.fullmatch(r"Push notification feedback, 2026-01-05 to 2026-01-1\d", title), title
    assert re.search(r"Generated 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\)", text)
    # One panel per type, each with its own labelled y axis (gridline labels) and day ticks.
    for ty in ("send", "open", "click", "bounce", "abort"):
        assert f'aria-label="{ty} events per hour"' in text
    panels = re.findall(r'<svg viewBox="0 0 540 190".*?</svg>', text, re.S)
    assert len(panels) == 5
    for p in panels:
        labels = re.findall(r'text-anchor="end" fill="#555">([\d,]+)</text>', p)
        assert len(labels) in (5, 6) and labels[0] == "0", labels
        assert all(int(b.replace(",", "")) > int(a.replace(",", "")) for a, b in zip(labels, labels[1:])), labels
        assert "day (UTC, month-day)" in p and re.search(r">01-0\d<", p)
    # Thousands separators, plain column names, a row per platform under each campaign.
    assert re.search(r"<b>\d{1,3},\d{3}</b>", text), "thousands separators"
    assert "<th>Customers who opened</th>" in text and "openers (day × platform)" not in text
    assert text.count('<tr class="platform">') >= text.count('<tr class="campaign">') >= 3
    assert re.search(r'<tr class="platform"><td>(ios|android|web)</td>', text)
    # Rate bars carry their value; the scale is stated.
    assert re.search(r'aria-label="\d+\.\d %"', text) and "the bars run from 0 to" in text
    # The heatmap has a colour scale; the preferred-hour chart an axis and its coverage first.
    assert "opens and clicks per cell:" in text
    coverage = re.search(r"<b>([\d,]+) of ([\d,]+) customers sent a push \((\d+\.\d) %\)</b> have a preferred hour", text)
    assert coverage, "coverage stated up front"
    assert "preferred hour (local time)</text>" in text and ">customers</text>" in text
    assert "--min-opens" in text


def test_a_lower_threshold_covers_more_customers(report, tmp_path):
    data, text, _ = report
    out = tmp_path / "low.html"
    subprocess.run([binary(), "report", "--data-dir", str(data), "--output", str(out), "--min-opens", "1"],
                   check=True, capture_output=True)
    covered = lambda t: int(re.search(r"<b>([\d,]+) of", t).group(1).replace(",", ""))  # noqa: E731
    assert covered(out.read_text()) > covered(text) > 0


def test_the_screenshot_has_no_empty_half(report, tmp_path):
    _, _, html = report
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", "--hide-scrollbars",
                    f"--screenshot={shot}", html.as_uri()], check=True, capture_output=True, timeout=120)
    img = Image.open(shot).convert("L")
    w, h = img.size
    px = img.load()

    def inked(x0, x1, y0, y1) -> float:
        """Share of pixel rows in the box with any non-white pixel."""
        rows = 0
        for y in range(y0, y1, 4):
            if any(px[x, y] < 235 for x in range(x0, x1, 3)):
                rows += 1
        return rows / max(1, len(range(y0, y1, 4)))

    # Down the first screenful and a half, every band of 300 px has content in both halves
    # of the page (the old report left the right half blank).
    for y0 in range(0, 1800, 300):
        left, right = inked(40, w // 2, y0, y0 + 300), inked(w // 2, w - 40, y0, y0 + 300)
        assert left > 0.1 and right > 0.1, (y0, left, right)
    keep = os.environ.get("PUSHFEED_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
