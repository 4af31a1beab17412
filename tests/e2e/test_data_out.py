"""Analysts' ways out of the local warehouse, as they would use them: `pushfeed export`
(CSV and JSON lines, read back equal to the table), `sql --csv` / `--format`, the views
read by SQLite clients that know nothing of pushfeed, and the rough edges around them
(a mistyped table, a second run on one data dir, bootstrap without an endpoint)."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import binary


def pushfeed(*args: str, check: bool = True, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    p = subprocess.run([binary(), *args], capture_output=True, text=True, stdin=stdin)
    if check and p.returncode != 0:
        pytest.fail(f"pushfeed {args} exited {p.returncode}:\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data-out") / "pushfeed-data"
    run = pushfeed("run", "--events", "4000", "--seed", "11", "--data-dir", str(d))
    # Progress on stderr while it works, loading included; the summary on stdout.
    assert "generating 4,000 events" in run.stderr and "objects; loading the last" in run.stderr, run.stderr
    # The main job ends by naming the warehouse and what to do next.
    assert f"The warehouse is {d / 'warehouse.sqlite'}" in run.stdout
    for command in ("pushfeed sql", "pushfeed export", "pushfeed report", "pushfeed audit"):
        assert command in run.stdout, run.stdout
    return d


def table_rows(d: Path, table: str) -> list[dict]:
    return json.loads(pushfeed("sql", "--json", f"SELECT * FROM {table} ORDER BY event_id", "--data-dir", str(d)).stdout)


def as_text(v) -> str:
    """A value as CSV carries it: NULL empty, numbers as SQLite prints them."""
    if v is None:
        return ""
    return v if isinstance(v, str) else json.dumps(v)


def test_export_csv_reads_back_equal_to_the_table(data_dir, tmp_path):
    expected = table_rows(data_dir, "push_open")
    assert len(expected) > 100
    out = tmp_path / "opens.csv"
    p = pushfeed("export", "push_open", "--data-dir", str(data_dir), "-o", str(out))
    assert f"exported {len(expected):,} rows of push_open to {out}" in p.stderr
    assert not list(tmp_path.glob("*.partial")), "the partial file is renamed"
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    got = sorted(rows, key=lambda r: r["event_id"])
    assert [list(r) for r in got[:1]] == [list(expected[0])], "same columns, same order"
    assert got == [{k: as_text(v) for k, v in r.items()} for r in expected]
    # Fields with commas, quotes or line breaks survive (attributes is JSON text).
    assert any('"' in r["attributes"] or "," in r["attributes"] for r in got)


def test_export_jsonl_and_a_query(data_dir, tmp_path):
    expected = table_rows(data_dir, "push_send")
    out = tmp_path / "sends.jsonl"
    pushfeed("export", "push_send", "--format", "jsonl", "--data-dir", str(data_dir), "-o", str(out), "--quiet")
    got = sorted((json.loads(l) for l in out.read_text().splitlines()), key=lambda r: r["event_id"])
    assert got == expected
    q = pushfeed("export", "--query", "SELECT platform, COUNT(*) AS n FROM push_send GROUP BY 1 ORDER BY 1",
                 "--data-dir", str(data_dir), "-o", "-")
    rows = list(csv.DictReader(io.StringIO(q.stdout)))
    assert sum(int(r["n"]) for r in rows) == len(expected)


def test_sql_formats_stream_the_same_rows(data_dir):
    query = "SELECT event_id, platform, attributes FROM push_click ORDER BY event_id"
    as_json = json.loads(pushfeed("sql", "--json", query, "--data-dir", str(data_dir)).stdout)
    as_csv = list(csv.DictReader(io.StringIO(pushfeed("sql", "--csv", query, "--data-dir", str(data_dir)).stdout)))
    as_lines = [json.loads(l) for l in pushfeed("sql", "--format", "jsonl", query, "--data-dir", str(data_dir)).stdout.splitlines()]
    assert as_lines == as_json
    assert as_csv == [{k: as_text(v) for k, v in r.items()} for r in as_json]
    # The table: numbers right-aligned, a long cell cut at 60 characters, the row count.
    table = pushfeed("sql", "SELECT platform, COUNT(*) AS n, MAX(attributes) AS a FROM push_send GROUP BY 1",
                     "--data-dir", str(data_dir)).stdout.splitlines()
    widths = [len(c) for c in table[1].split("-+-")]
    first = table[2].split(" | ")
    assert first[1] == first[1].rjust(widths[1]) and first[1].strip().isdigit(), table[:3]
    assert all(len(line.split(" | ")[2]) <= 60 for line in table[2:-1])
    assert table[-1].endswith("rows)")


def test_the_views_read_from_any_sqlite_client(data_dir):
    """Python's sqlite3 (and the sqlite3 shell, when installed) know no pushfeed function."""
    ours = json.loads(pushfeed("sql", "--json", "SELECT * FROM v_push_preferred_time ORDER BY customer_id",
                               "--data-dir", str(data_dir)).stdout)
    con = sqlite3.connect(f"file:{data_dir / 'warehouse.sqlite'}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    plain = [dict(r) for r in con.execute("SELECT * FROM v_push_preferred_time ORDER BY customer_id")]
    assert plain == ours and any(r["preferred_hour"] is not None for r in plain)
    for view in ("v_push_funnel_daily", "v_push_engagement", "v_push_touchpoints", "v_push_audit_hourly"):
        con.execute(f"SELECT COUNT(*) FROM {view}").fetchone()
    if shutil.which("sqlite3"):
        shell = subprocess.run(["sqlite3", "-readonly", str(data_dir / "warehouse.sqlite"),
                                "SELECT COUNT(*) FROM v_push_preferred_time WHERE preferred_hour IS NOT NULL"],
                               capture_output=True, text=True, check=True)
        assert int(shell.stdout) == sum(r["preferred_hour"] is not None for r in plain)


def test_a_mistyped_table_gets_the_closest_names(data_dir):
    p = pushfeed("sql", "SELECT * FROM push_opne", "--data-dir", str(data_dir), check=False)
    assert p.returncode == 1
    assert "no such table or view: push_opne; did you mean push_open" in p.stderr
    assert "the warehouse has: push_abort" in p.stderr
    p = pushfeed("export", "v_push_funnel", "--data-dir", str(data_dir), check=False)
    assert "did you mean v_push_funnel_daily" in p.stderr


def test_a_second_run_on_a_data_dir_in_use_says_who_holds_it(data_dir):
    with open(data_dir / ".pushfeed.lock", "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.seek(0)
        f.truncate()
        f.write("pushfeed run (pid 4242) since 2026-12-03T10:00:00.000Z")
        f.flush()
        p = pushfeed("run", "--events", "50", "--data-dir", str(data_dir), "--quiet", check=False)
        fcntl.flock(f, fcntl.LOCK_UN)
    assert p.returncode == 1
    assert "is in use by another pushfeed (pushfeed run (pid 4242)" in p.stderr, p.stderr
    assert "another --data-dir" in p.stderr


def test_bootstrap_without_an_endpoint_refuses_to_touch_real_aws(tmp_path):
    env_free = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    p = subprocess.run([binary(), "bootstrap"], capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env_free)
    assert p.returncode == 1
    assert "real AWS" in p.stderr and "Pass --yes" in p.stderr and "Terraform" in p.stderr
