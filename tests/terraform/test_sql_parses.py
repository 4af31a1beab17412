"""Every Redshift statement pushfeed generates parses with a real SQL parser's Redshift
dialect (sqlglot): the DDL, migrations, grants and views Terraform applies, and the load
transaction for ordinary and hostile keys. A statement sqlglot cannot parse (it falls back
to an opaque `Command`) must be listed here with the reason."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[2]

# sqlglot (30.x) has no grammar for these Redshift statements; they are checked by their
# rendering tests (crates/core/src/schema.rs, load.rs) and against Redshift's documented syntax.
UNPARSED = {
    "LOCK ": "LOCK [TABLE] name [, ...] (Redshift SQL reference: LOCK): no grammar in sqlglot",
    "CREATE ROLE ": "Redshift RBAC CREATE ROLE: no grammar in sqlglot",
    "GRANT ": "Redshift GRANT … TO ROLE / GRANT ROLE / GRANT TEMP ON DATABASE: not in sqlglot's GRANT grammar",
    "ALTER DEFAULT PRIVILEGES ": "no grammar in sqlglot",
}


def pushfeed(*args: str) -> str:
    bin_dir = os.environ.get("PUSHFEED_BIN_DIR") or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug")
    return subprocess.run([str(Path(bin_dir) / "pushfeed"), *args], check=True, capture_output=True, text=True).stdout


def statements_of(script: str) -> list[str]:
    out = []
    for s in script.split(";\n"):
        lines = [l for l in s.splitlines() if not l.startswith("--")]
        s = "\n".join(lines).strip()
        if s:
            out.append(s)
    return out


def check(sql: str) -> str:
    """'parsed', or the documented reason it is not."""
    reason = next((why for prefix, why in UNPARSED.items() if sql.startswith(prefix)), None)
    try:
        trees = sqlglot.parse(sql, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.ParseError as e:
        assert reason, f"sqlglot cannot parse and no reason is documented:\n{sql[:400]}\n{e}"
        return reason
    assert len(trees) == 1, f"one statement expected:\n{sql[:300]}"
    tree = trees[0]
    if isinstance(tree, exp.Command):
        assert reason, f"sqlglot fell back to an opaque Command and no reason is documented:\n{sql[:400]}"
        return reason
    assert reason is None or sql.startswith(("GRANT ", "ALTER ")), f"documented as unparsed but parsed: {sql[:100]}"
    return "parsed"


def test_every_ddl_migration_grant_and_view_statement_parses():
    script = pushfeed("ddl", "--schema", "acme_push", "--database", "analytics", "--loader-user", "IAMR:pushfeed-prod-loader-role")
    results = {}
    for sql in statements_of(script):
        results[sql[:60]] = check(sql)
    parsed = [k for k, v in results.items() if v == "parsed"]
    assert len(parsed) >= 18, results  # tables, migrations table, views, migration record …
    assert any(k.startswith("CREATE TABLE IF NOT EXISTS acme_push.push_send") for k in parsed)
    assert any(k.startswith("CREATE OR REPLACE VIEW acme_push.v_push_funnel_daily") for k in parsed)


@pytest.mark.parametrize("key", [
    "push/send/2026/01/01/13/pushfeed-prod-send-1-2026-01-01-13-05-00-abc.gz",
    "push/open/2026/01/01/13/it's-o'clock.gz",
    "push/open/2026/01/01/13/x'; DROP TABLE pushfeed.push_send; --\\'.gz",
    "push/open/2026/01/01/13/caf\u00e9-\U0001F600 and spaces.gz",
])
def test_the_load_transaction_parses_for_hostile_keys(key):
    for size in ("52133", "0"):
        sqls = json.loads(pushfeed("plan-load", f"s3://pushfeed-prod-data/{key}", "--etag", "9b2c'f5", "--size", size,
                                   "--copy-role", "arn:aws:iam::123456789012:role/pushfeed-prod-redshift-copy"))
        kinds = [check(s) for s in sqls]
        assert kinds[0] == UNPARSED["LOCK "]
        for s, k in zip(sqls, kinds):
            if s.startswith("INSERT"):
                assert k == "parsed", s
                tree = sqlglot.parse_one(s, read="redshift")
                assert isinstance(tree, exp.Insert)
                # The key stays a string literal: no statement was smuggled in.
                assert not list(tree.find_all(exp.Drop))
