"""A stand-in for the Redshift behaviours the loader relies on, added to moto's server.

moto's server records ExecuteStatement but has no BatchExecuteStatement (HTTP 500) and
never moves a statement out of STARTED (see ../shared/LOCAL_AWS.md); Redshift itself cannot
run here. This module adds, to a moto server running in this Python process, a small model
of Redshift that *executes* the statements pushfeed's loader sends, with Redshift's
documented semantics — so that a test fails the way production would:

* **BatchExecuteStatement** runs its statements in order as one transaction, in a thread:
  DescribeStatement answers STARTED until it ends, then FINISHED / FAILED / ABORTED with
  each sub-statement's ResultRows. ``standin.batches`` records exactly the SQL sent.
* **SNAPSHOT isolation** (the default for new clusters and Serverless workgroups, "Isolation
  levels in Amazon Redshift"): a transaction reads the data committed when its first
  statement other than LOCK runs; its writes become visible at commit. Two concurrent
  INSERTs never conflict, so two overlapping ``INSERT … WHERE NOT EXISTS`` both insert.
* **LOCK** t [, …] takes an exclusive lock on each table, waits for it, and holds it until
  the transaction ends ("LOCK", Redshift SQL reference). The snapshot is taken after it.
* **COPY** reads S3 objects from moto: ``FROM 's3://bucket/prefix'`` loads *every* object
  whose key starts with the prefix; with ``MANIFEST`` the string names a manifest and
  exactly its entries are loaded (a mandatory entry that is missing fails the COPY).
* **CancelStatement** stops a running transaction: nothing commits, status ABORTED.
* The statements pushfeed sends are interpreted by their shape (LOCK, CREATE TEMP TABLE …
  LIKE, COPY, the pick into pushfeed_fresh, the INSERT from it, the load-audit INSERT, the
  ledger INSERT, DROP TABLE); anything else is recorded and finishes with 0 rows. The pick
  is evaluated as written: first row per event_id by its ORDER BY, absent from the target
  within the staged rows' occurred_at range, and only while the ledger row is absent; the
  load audit counts the staged and picked rows per hour of received_at.
* The audit query (``v_push_audit_hourly``, ExecuteStatement) is answered from the
  committed ``push_audit`` and load-audit rows with the view's definition: sums per hour
  and table, status by the same CASE (grace period included).

``mode`` makes every load "fail" (COPY error) or "abort"; ``copy_delay`` (seconds) widens
the window in which two transactions overlap. It also mends one divergence found here and
not listed in LOCAL_AWS.md: moto writes CreatedAt/UpdatedAt as ISO-8601 text where AWS
sends epoch seconds, which the Rust SDK refuses to parse.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
import uuid

from moto.redshiftdata import models as rd_models
from moto.redshiftdata.responses import RedshiftDataAPIServiceResponse

LOCK_RE = re.compile(r"^LOCK\s+(?:TABLE\s+)?(.+)$", re.I | re.S)
STAGE_RE = re.compile(r"^CREATE TEMP TABLE (\w+) \(LIKE ([\w.$]+)\)$")
COPY_RE = re.compile(r"^COPY (\w+) FROM 's3://([^/']+)/((?:[^']|'')*)'(.*)$", re.S)
INSERT_RE = re.compile(r"^INSERT INTO ([\w.$]+) \(([^)]*)\) SELECT")
LEDGER_KEY = re.compile(r"l\.bucket = '((?:[^']|'')*)' AND l\.object_key = '((?:[^']|'')*)' AND l\.etag = '((?:[^']|'')*)'")
LEDGER_LISTING = re.compile(r"^SELECT object_key, etag FROM [\w.$]*pushfeed_load_ledger WHERE bucket = '((?:[^']|'')*)'")
FRESH_RE = re.compile(r"^CREATE TEMP TABLE pushfeed_fresh AS SELECT .*?ORDER BY ([^)]*)\) AS pushfeed_rn.*? NOT EXISTS \(SELECT 1 FROM ([\w.$]+) AS t WHERE", re.S)
FRESH_INSERT_RE = re.compile(r"^INSERT INTO ([\w.$]+) \(([^)]*)\) SELECT .* FROM pushfeed_fresh$", re.S)
LOAD_AUDIT_RE = re.compile(r"^INSERT INTO [\w.$]*pushfeed_load_audit .*? SELECT '((?:[^']|'')*)', '((?:[^']|'')*)', '((?:[^']|'')*)', '((?:[^']|'')*)', h\.hour", re.S)
AUDIT_VIEW_RE = re.compile(r"^SELECT hour, table_name, sent, lines_loaded, rows_inserted, duplicates_dropped, unaccounted, status FROM [\w.$]*v_push_audit_hourly WHERE hour >= '([^']*)'( AND status IN \('missing', 'surplus'\))? ORDER BY hour, table_name$")
# pushfeed status: loads per table from the ledger, the newest event per table, the audit's
# cells by status.
STATUS_LEDGER_RE = re.compile(r"^SELECT table_name, COUNT\(\*\), COALESCE\(SUM\(rows_in_object\), 0\), MAX\(loaded_at\) FROM [\w.$]*pushfeed_load_ledger GROUP BY table_name$")
STATUS_NEWEST_RE = re.compile(r"SELECT '(\w+)', MAX\(occurred_at\) FROM [\w.$]+")
STATUS_AUDIT_RE = re.compile(r"^SELECT status, COUNT\(\*\) FROM [\w.$]*v_push_audit_hourly WHERE hour >= '([^']*)'::timestamp GROUP BY status$")
GRACE_RE = re.compile(r"DATEADD\(minute, -(\d+), GETDATE\(\)\)")
LEDGER_ROWS = re.compile(r"SELECT '(?:[^']|'')*', '(?:[^']|'')*', '(?:[^']|'')*', '((?:[^']|'')*)', (\d+), (\(SELECT COUNT\(\*\) FROM \w+\)|\d+),")
FAILURE_TEXT = "ERROR: Load into table 'pushfeed_stage' failed. Check 'sys_load_error_detail' system table for details."


def _unquote(s: str) -> str:
    return s.replace("''", "'").replace("\\\\", "\\")


class Cancelled(Exception):
    pass


class Failed(Exception):
    pass


class Transaction:
    def __init__(self, standin: "RedshiftStandin", sid: str, sqls: list[str]):
        self.standin = standin
        self.id = sid
        self.sqls = sqls
        self.status = "SUBMITTED"
        self.error: str | None = None
        self.rows = [0] * len(sqls)
        self.sub_status = ["SUBMITTED"] * len(sqls)
        self.cancelled = threading.Event()
        self.created = time.time()
        self.updated = self.created
        self.snapshot: int | None = None
        self.held: list[threading.Lock] = []
        self.stage: list[dict] = []
        self.pending_rows: dict[str, list[dict]] = {}
        self.fresh: list[dict] = []
        self.pending_load_audit: list[dict] = []
        self.pending_ledger: dict[tuple, dict] = {}
        self.objects: list[str] = []

    # --- reads against this transaction's snapshot ------------------------------
    def _snap(self) -> int:
        if self.snapshot is None:
            with self.standin.state:
                self.snapshot = self.standin.seq
        return self.snapshot

    def _ledger_has(self, key: tuple) -> bool:
        snap = self._snap()
        seq = self.standin.ledger_rows.get(key, {}).get("_seq")
        return (seq is not None and seq <= snap) or key in self.pending_ledger

    def _event_in_window(self, table: str, event_id: str, lo: str, hi: str) -> bool:
        snap = self._snap()
        for occurred, seq in self.standin.index.get(table, {}).get(event_id, ()):
            if seq <= snap and lo <= occurred <= hi:
                return True
        return False

    # --- execution ----------------------------------------------------------------
    def run(self) -> None:
        self.status = "STARTED"
        try:
            for i, sql in enumerate(self.sqls):
                if self.cancelled.is_set():
                    raise Cancelled()
                self.sub_status[i] = "STARTED"
                self.rows[i] = self._statement(sql.strip(), i)
                self.sub_status[i] = "FINISHED"
            if self.cancelled.is_set():
                raise Cancelled()
            self._commit()
            self.status = "FINISHED"
        except Cancelled:
            self.status = "ABORTED"
            self.sub_status = [s if s == "FINISHED" else "ABORTED" for s in self.sub_status]
        except Failed as e:
            self.status = "FAILED"
            self.error = str(e)
            self.sub_status = ["FAILED" if s == "STARTED" else ("ABORTED" if s != "FINISHED" else s) for s in self.sub_status]
        finally:
            for lock in reversed(self.held):
                lock.release()
            self.held.clear()
            self.updated = time.time()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.cancelled.wait(seconds):
            raise Cancelled()

    def _statement(self, sql: str, index: int = 0) -> int:
        m = LOCK_RE.match(sql)
        if m:
            for name in sorted(t.strip() for t in m.group(1).split(",")):
                lock = self.standin.table_lock(name)
                while not lock.acquire(timeout=0.05):
                    if self.cancelled.is_set():
                        raise Cancelled()
                self.held.append(lock)
            return 0
        self._snap()  # every other statement starts the snapshot, if it has not started
        m = STAGE_RE.match(sql)
        if m:
            self.stage = []
            return 0
        m = COPY_RE.match(sql)
        if m:
            self._sleep(self.standin.copy_delay)
            if self.standin.mode == "fail":
                raise Failed(FAILURE_TEXT)
            bucket, target, options = m.group(2), _unquote(m.group(3)), m.group(4)
            if " MANIFEST" in options:
                manifest = json.loads(self.standin.read_object(bucket, target) or b"{}")
                urls = [(e["url"], e.get("mandatory", False)) for e in manifest.get("entries", [])]
                keys = []
                for url, mandatory in urls:
                    b, k = url.removeprefix("s3://").split("/", 1)
                    if self.standin.read_object(b, k) is None:
                        if mandatory:
                            raise Failed(f"ERROR: Manifest file entry is mandatory but the file was not found: {url}")
                        continue
                    keys.append((b, k))
            else:
                # COPY from a key prefix: every object whose key starts with it.
                keys = [(bucket, k) for k in self.standin.list_keys(bucket, target)]
            for b, k in keys:
                self.objects.append(k)
                body = self.standin.read_object(b, k) or b""
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                for line in body.split(b"\n"):
                    if line.strip():
                        self.stage.append({key.lower(): v for key, v in json.loads(line).items()})
            return len(self.stage)
        if sql == "SELECT MAX(occurred_at) FROM pushfeed_stage":
            newest = max((str(r["occurred_at"]) for r in self.stage), default=None)
            # Redshift returns a TIMESTAMP as 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
            text = newest.replace("T", " ").rstrip("Z") if newest else None
            self.standin.results[f"{self.id}:{index + 1}"] = [[text]] if text else [[None]]
            return 1
        m = FRESH_RE.match(sql)
        if m:
            # The rows the load will insert: first per event_id in the object by the
            # ORDER BY as written, absent from the target within the staged occurred_at
            # range (this snapshot), and only while the ledger row is absent.
            order = [c.strip().removeprefix("s.") for c in m.group(1).split(",")]
            table = m.group(2).split(".")[-1]
            key_m = LEDGER_KEY.search(sql)
            key = tuple(_unquote(g) for g in key_m.groups()) if key_m else None
            self.fresh = []
            if (key is not None and self._ledger_has(key)) or not self.stage:
                return 0
            first: dict[str, dict] = {}
            for row in sorted(self.stage, key=lambda r: tuple(str(r.get(c)) for c in order)):
                first.setdefault(row["event_id"], row)
            lo = min(str(r["occurred_at"]) for r in self.stage)
            hi = max(str(r["occurred_at"]) for r in self.stage)
            self.fresh = [r for eid, r in first.items() if not self._event_in_window(table, eid, lo, hi)]
            return len(self.fresh)
        m = FRESH_INSERT_RE.match(sql)
        if m:
            table = m.group(1).split(".")[-1]
            self.pending_rows.setdefault(table, []).extend(self.fresh)
            return len(self.fresh)
        m = LOAD_AUDIT_RE.match(sql)
        if m:
            bucket, key, etag, table = (_unquote(g) for g in m.groups())
            if self._ledger_has((bucket, key, etag)):
                return 0
            lines: dict[str, int] = {}
            inserted: dict[str, int] = {}
            for r in self.stage:
                lines[_hour(r["received_at"])] = lines.get(_hour(r["received_at"]), 0) + 1
            for r in self.fresh:
                inserted[_hour(r["received_at"])] = inserted.get(_hour(r["received_at"]), 0) + 1
            for hour, n in lines.items():
                self.pending_load_audit.append({"bucket": bucket, "object_key": key, "etag": etag, "table_name": table,
                                                "hour": hour, "lines": n, "inserted": inserted.get(hour, 0),
                                                "duplicates": n - inserted.get(hour, 0)})
            return len(lines)
        m = INSERT_RE.match(sql)
        if m:
            table = m.group(1).split(".")[-1]
            key_m = LEDGER_KEY.search(sql)
            key = tuple(_unquote(g) for g in key_m.groups()) if key_m else None
            if table == "pushfeed_load_ledger":
                if key is None or self._ledger_has(key):
                    return 0
                rows_m = LEDGER_ROWS.search(sql)
                self.pending_ledger[key] = {
                    "table_name": _unquote(rows_m.group(1)) if rows_m else "",
                    "object_bytes": int(rows_m.group(2)) if rows_m else 0,
                    "rows_in_object": len(self.stage) if rows_m and rows_m.group(3).startswith("(") else 0,
                }
                return 1
            if key is not None and self._ledger_has(key):
                return 0
            if not self.stage:
                return 0
            first: dict[str, dict] = {}
            for row in sorted(self.stage, key=lambda r: (str(r.get("received_at")), str(r.get("source_sequence_number")))):
                first.setdefault(row["event_id"], row)
            lo = min(str(r["occurred_at"]) for r in self.stage)
            hi = max(str(r["occurred_at"]) for r in self.stage)
            new = [r for eid, r in first.items() if not self._event_in_window(table, eid, lo, hi)]
            self.pending_rows.setdefault(table, []).extend(new)
            return len(new)
        return 0

    def _commit(self) -> None:
        with self.standin.state:
            self.standin.seq += 1
            seq = self.standin.seq
            for table, rows in self.pending_rows.items():
                self.standin.tables.setdefault(table, []).extend(rows)
                index = self.standin.index.setdefault(table, {})
                for r in rows:
                    index.setdefault(r["event_id"], []).append((str(r["occurred_at"]), seq))
            for key, row in self.pending_ledger.items():
                self.standin.ledger_rows[key] = {**row, "_seq": seq,
                                                 "loaded_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
                self.standin.ledger.add(key)
            self.standin.load_audit.extend(self.pending_load_audit)

    def describe(self) -> dict:
        subs = []
        for i, sql in enumerate(self.sqls):
            sub = {"Id": f"{self.id}:{i + 1}", "Status": self.sub_status[i], "QueryString": sql,
                   "ResultRows": self.rows[i], "RedshiftQueryId": 1000 + i, "Duration": 1,
                   "HasResultSet": False, "CreatedAt": self.created, "UpdatedAt": self.updated}
            if self.sub_status[i] == "FAILED" and self.error:
                sub["Error"] = self.error
            subs.append(sub)
        out = {"Id": self.id, "Status": self.status, "SubStatements": subs, "QueryString": "; ".join(self.sqls),
               "CreatedAt": self.created, "UpdatedAt": self.updated, "HasResultSet": False, "Duration": 1}
        if self.error:
            out["Error"] = self.error
        return out


class RedshiftStandin:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = threading.Lock()
        self.mode = "finish"  # or "fail", "abort"
        self.copy_delay = 0.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.batches: list[dict] = []
            self.executes: list[str] = []
            self.transactions: dict[str, Transaction] = {}
            self.tables: dict[str, list[dict]] = {}
            self.index: dict[str, dict[str, list[tuple[str, int]]]] = {}
            self.ledger: set[tuple[str, str, str]] = set()
            self.ledger_rows: dict[tuple, dict] = {}
            self.load_audit: list[dict] = []
            self.grace_minutes = 120
            self.seq = 0
            self.locks: dict[str, threading.Lock] = {}
            self.results: dict[str, list[list[str]]] = {}
            self.result_columns: dict[str, list[str]] = {}
            self.result_page_size = 1000
        self.mode = "finish"
        self.copy_delay = 0.0

    # --- moto's S3 ------------------------------------------------------------------
    def _bucket(self, bucket: str):
        from moto.s3.models import s3_backends

        for by_partition in list(s3_backends.values()):
            for backend in list(by_partition.values()):
                if bucket in backend.buckets:
                    return backend.buckets[bucket]
        return None

    def read_object(self, bucket: str, key: str) -> bytes | None:
        b = self._bucket(bucket)
        obj = b.keys.get(key) if b is not None else None
        return None if obj is None else obj.value

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        b = self._bucket(bucket)
        return sorted(k for k in (b.keys.keys() if b is not None else []) if k.startswith(prefix))

    def table_lock(self, name: str) -> threading.Lock:
        with self.lock:
            return self.locks.setdefault(name.split(".")[-1].lower(), threading.Lock())

    # --- the audit view -------------------------------------------------------------
    def audit_view(self, since: str, problems_only: bool, now: float | None = None) -> list[list[str]]:
        """v_push_audit_hourly as its definition reads (`pushfeed ddl`): per hour and table,
        the sent lines of push_audit against the lines and inserts of pushfeed_load_audit
        (push_audit's own loads left out); status balanced / surplus / missing (the hour ended
        more than the grace period ago) / in_flight — over the committed rows."""
        from datetime import datetime, timedelta, timezone

        cells: dict[tuple[str, str], list[int]] = {}
        with self.state:
            for r in self.tables.get("push_audit", []):
                c = cells.setdefault((_hour(r["hour"]), r["table_name"]), [0, 0, 0])
                c[0] += int(r["lines"])
            for r in self.load_audit:
                if r["table_name"] == "push_audit":
                    continue
                c = cells.setdefault((r["hour"], r["table_name"]), [0, 0, 0])
                c[1] += r["lines"]
                c[2] += r["inserted"]
        now_dt = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc).replace(tzinfo=None)
        cutoff = (now_dt - timedelta(minutes=60 + self.grace_minutes)).strftime("%Y-%m-%d %H:%M:%S")
        out = []
        for (hour, table), (sent, loaded, inserted) in sorted(cells.items()):
            if hour < since[:19]:
                continue
            status = ("balanced" if loaded == sent else "surplus" if loaded > sent
                      else "missing" if hour < cutoff else "in_flight")
            if problems_only and status not in ("missing", "surplus"):
                continue
            out.append([hour, table, str(sent), str(loaded), str(inserted), str(loaded - inserted), str(sent - loaded), status])
        return out

    # --- what tests read ----------------------------------------------------------------
    def rows(self, table: str) -> list[dict]:
        with self.state:
            return list(self.tables.get(table, []))

    # --- the API ------------------------------------------------------------------------
    def batch_execute(self, params: dict) -> dict:
        sqls: list[str] = params.get("Sqls") or []
        sid = str(uuid.uuid4())
        tx = Transaction(self, sid, sqls)
        with self.lock:
            self.batches.append({"id": sid, "sqls": sqls, "workgroup": params.get("WorkgroupName"),
                                 "database": params.get("Database"), "tx": tx})
            self.transactions[sid] = tx
        if self.mode == "abort":
            tx.status = "ABORTED"
            tx.sub_status = ["ABORTED"] * len(sqls)
        else:
            threading.Thread(target=tx.run, daemon=True, name=f"standin-{sid[:8]}").start()
        return {"Id": sid, "Database": params.get("Database"), "CreatedAt": tx.created}

    def install(self) -> None:
        standin = self

        def batch_execute_statement(self):  # noqa: ANN001 - moto's response method
            params = json.loads(self.body or "{}")
            return 200, {}, json.dumps(standin.batch_execute(params))

        original_execute = RedshiftDataAPIServiceResponse.execute_statement

        def execute_statement(self):  # noqa: ANN001
            status, headers, body = original_execute(self)
            out = json.loads(body)
            backend = rd_models.redshiftdata_backends[self.current_account][self.region]
            st = backend.statements[out["Id"]]
            with standin.lock:
                standin.executes.append(st.query_string)
            st.status = "FINISHED"  # e.g. the SYS_LOAD_ERROR_DETAIL lookup
            view = AUDIT_VIEW_RE.match(st.query_string.strip())
            if view:
                standin.results[out["Id"]] = standin.audit_view(view.group(1), bool(view.group(2)))
                standin.result_columns[out["Id"]] = ["hour", "table_name", "sent", "lines_loaded", "rows_inserted",
                                                     "duplicates_dropped", "unaccounted", "status"]
            q = st.query_string.strip()
            if STATUS_LEDGER_RE.match(q):
                per: dict[str, list] = {}
                with standin.state:
                    for row in standin.ledger_rows.values():
                        c = per.setdefault(row["table_name"], [0, 0, None])
                        c[0] += 1
                        c[1] += row["rows_in_object"]
                        c[2] = max(filter(None, [c[2], row.get("loaded_at")]), default=None)
                standin.results[out["Id"]] = [[t, str(n), str(lines), last] for t, (n, lines, last) in sorted(per.items())]
                standin.result_columns[out["Id"]] = ["table_name", "count", "coalesce", "max"]
            elif q.startswith("SELECT '") and " UNION ALL " in q:
                rows = []
                with standin.state:
                    for table in STATUS_NEWEST_RE.findall(q):
                        times = [str(r["occurred_at"]) for r in standin.tables.get(table, []) if r.get("occurred_at")]
                        rows.append([table, _redshift_ts(max(times)) if times else None])
                standin.results[out["Id"]] = rows
                standin.result_columns[out["Id"]] = ["table", "max"]
            audit_status = STATUS_AUDIT_RE.match(q)
            if audit_status:
                counts: dict[str, int] = {}
                for cell in standin.audit_view(audit_status.group(1), False):
                    counts[cell[7]] = counts.get(cell[7], 0) + 1
                standin.results[out["Id"]] = [[k, str(v)] for k, v in sorted(counts.items())]
                standin.result_columns[out["Id"]] = ["status", "count"]
            listing = LEDGER_LISTING.match(st.query_string.strip())
            if listing:
                # The ledger as this model committed it (pushfeed reconcile reads it).
                bucket = _unquote(listing.group(1))
                with standin.state:
                    rows = sorted([k, e] for (b, k, e) in standin.ledger if b == bucket)
                standin.results[out["Id"]] = rows
            return status, headers, json.dumps(_epoch_times(out))

        original_result = RedshiftDataAPIServiceResponse.get_statement_result

        def get_statement_result(self):  # noqa: ANN001
            params = json.loads(self.body or "{}")
            rows = standin.results.get(params.get("Id"))
            if rows is None:
                return original_result(self)
            start = int(params.get("NextToken") or 0)
            page = rows[start:start + standin.result_page_size]
            names = standin.result_columns.get(params.get("Id"), ["object_key", "etag"])
            out = {"Records": [[{"stringValue": v} if v is not None else {"isNull": True} for v in r] for r in page], "TotalNumRows": len(rows),
                   "ColumnMetadata": [{"name": n, "typeName": "varchar"} for n in names]}
            if start + standin.result_page_size < len(rows):
                out["NextToken"] = str(start + standin.result_page_size)
            return 200, {}, json.dumps(out)

        original_describe = RedshiftDataAPIServiceResponse.describe_statement

        def describe_statement(self):  # noqa: ANN001
            sid = json.loads(self.body or "{}").get("Id")
            tx = standin.transactions.get(sid)
            if tx is not None:
                return 200, {}, json.dumps(tx.describe())
            status, headers, body = original_describe(self)
            return status, headers, json.dumps(_epoch_times(json.loads(body)))

        original_cancel = RedshiftDataAPIServiceResponse.cancel_statement

        def cancel_statement(self):  # noqa: ANN001
            sid = json.loads(self.body or "{}").get("Id")
            tx = standin.transactions.get(sid)
            if tx is None:
                return original_cancel(self)
            tx.cancelled.set()
            return 200, {}, json.dumps({"Status": tx.status in ("SUBMITTED", "PICKED", "STARTED")})

        RedshiftDataAPIServiceResponse.batch_execute_statement = batch_execute_statement
        RedshiftDataAPIServiceResponse.execute_statement = execute_statement
        RedshiftDataAPIServiceResponse.describe_statement = describe_statement
        RedshiftDataAPIServiceResponse.cancel_statement = cancel_statement
        RedshiftDataAPIServiceResponse.get_statement_result = get_statement_result


def _redshift_ts(ts: str) -> str:
    """A stored ISO timestamp as Redshift prints a TIMESTAMP (what the Data API returns)."""
    return ts.replace("T", " ").rstrip("Z")


def _hour(ts) -> str:
    """The hour a stored timestamp falls in, as Redshift prints a TIMESTAMP."""
    text = str(ts).replace("T", " ")
    return text[:13] + ":00:00"


def _epoch_times(out: dict) -> dict:
    """AWS sends Data API timestamps as epoch seconds; moto sends ISO text."""
    from datetime import datetime, timezone

    for field in ("CreatedAt", "UpdatedAt"):
        value = out.get(field)
        if isinstance(value, str):
            out[field] = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()
    return out
