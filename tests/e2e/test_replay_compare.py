"""scripts/replay-compare, the side-by-side replay docs/performance.md's before/after
figures come from: it alternates the builds, reports each round's ratio and the median,
and refuses to compare builds whose runs give different counts."""
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, binary

SCRIPT = ROOT / "scripts" / "replay-compare"


def compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_alternates_the_builds_and_reports_every_round_and_the_median():
    pf = binary()
    r = compare("--rounds", "2", "--events", "3000", pf, pf)
    assert r.returncode == 0, r.stderr
    runs = [line for line in r.stdout.splitlines() if line.startswith("round ") and " s, CPU " in line]
    assert len(runs) == 4, r.stdout
    assert all("balanced True" in line for line in runs), r.stdout
    assert sum("first ÷" in line for line in r.stdout.splitlines()) == 2, r.stdout
    assert "median" in r.stdout.splitlines()[-1], r.stdout


def test_builds_whose_counts_differ_are_not_compared(tmp_path: Path):
    # Another seed: another feed, other counts — as a build that lost or doubled rows.
    other = tmp_path / "other-pushfeed"
    other.write_text(f'#!/bin/sh\nexec "{binary()}" "$@" --seed 2\n')
    other.chmod(0o755)
    r = compare("--rounds", "1", "--events", "3000", binary(), str(other))
    assert r.returncode == 1, r.stdout
    assert "COUNTS DIFFER" in r.stderr
