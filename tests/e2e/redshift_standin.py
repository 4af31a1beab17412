"""A small stand-in for the two Redshift Data API behaviours moto lacks.

moto's server records ExecuteStatement but has no BatchExecuteStatement (HTTP 500) and
never moves a statement out of STARTED (see ../shared/LOCAL_AWS.md). Redshift itself cannot
run here. This module adds, to a moto server running in this Python process:

* BatchExecuteStatement: records exactly the SQL list it was sent (``standin.batches``)
  and answers with a statement id, like AWS;
* statements that end: FINISHED (default) or FAILED / ABORTED (``standin.mode``), with
  SubStatements carrying ResultRows. It runs no SQL: the row counts are read from the
  object the COPY names (lines in moto's S3), and a ledger keyed by bucket/key/etag
  makes the ledger INSERT report 0 rows for an object already loaded — the two numbers
  the loader reads. Whether rows really load is proven by the embedded warehouse
  (`pushfeed run`), which applies the same rules to the same objects.

It also mends one divergence found here and not listed in LOCAL_AWS.md: moto writes
CreatedAt/UpdatedAt as ISO-8601 text where AWS sends epoch seconds, which the Rust SDK
refuses to parse; the responses below carry epoch seconds.
"""

from __future__ import annotations

import json
import re
import threading
import time

from moto.redshiftdata import models as rd_models
from moto.redshiftdata.responses import RedshiftDataAPIServiceResponse

COPY_SOURCE = re.compile(r"FROM 's3://([^/]+)/((?:[^']|'')*)'")
LEDGER_KEY = re.compile(r"l\.bucket = '((?:[^']|'')*)' AND l\.object_key = '((?:[^']|'')*)' AND l\.etag = '((?:[^']|'')*)'")


class RedshiftStandin:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mode = "finish"  # or "fail", "abort"
        self.batches: list[dict] = []
        self.executes: list[str] = []
        self.ledger: set[tuple[str, str, str]] = set()
        self.failure_text = "ERROR: Load into table 'pushfeed_stage' failed. Check 'sys_load_error_detail' system table for details."

    # --- helpers -------------------------------------------------------------
    def _object_lines(self, bucket: str, key: str) -> int:
        from moto.s3.models import s3_backends

        for by_partition in list(s3_backends.values()):
            backend = next((b for b in list(by_partition.values()) if bucket in b.buckets), None)
            if backend is None:
                continue
            obj = backend.buckets[bucket].keys.get(key)
            if obj is None:
                return 0
            return sum(1 for line in obj.value.split(b"\n") if line.strip())
        return 0

    def _sub(self, parent: str, i: int, sql: str, status: str, rows: int, error: str | None = None) -> dict:
        sub = {"Id": f"{parent}:{i + 1}", "Status": status, "QueryString": sql, "ResultRows": rows,
               "RedshiftQueryId": 1000 + i, "Duration": 1, "HasResultSet": False}
        if error:
            sub["Error"] = error
        return sub

    def batch_execute(self, params: dict) -> dict:
        sqls: list[str] = params.get("Sqls") or []
        with self.lock:
            statement = rd_models.Statement(
                cluster_identifier=params.get("ClusterIdentifier"), database=params.get("Database"),
                db_user=params.get("DbUser"), query_parameters=[], query_string="; ".join(sqls),
                secret_arn=params.get("SecretArn"))
            self.batches.append({"id": statement.id, "sqls": sqls, "workgroup": params.get("WorkgroupName"),
                                 "database": params.get("Database")})
            copy_match = next((COPY_SOURCE.search(s) for s in sqls if s.startswith("COPY ")), None)
            ledger_match = next((LEDGER_KEY.search(s) for s in sqls if LEDGER_KEY.search(s)), None)
            key = tuple(g.replace("''", "'") for g in ledger_match.groups()) if ledger_match else None
            if self.mode == "finish":
                new = key is not None and key not in self.ledger
                if new:
                    self.ledger.add(key)
                copied = self._object_lines(copy_match.group(1), copy_match.group(2).replace("''", "'")) if copy_match else 0
                subs = []
                for i, s in enumerate(sqls):
                    rows = 0
                    if s.startswith("COPY "):
                        rows = copied
                    elif s.startswith("INSERT INTO") and "pushfeed_load_ledger" in s.split(" SELECT")[0]:
                        rows = 1 if new else 0
                    elif s.startswith("INSERT INTO"):
                        rows = copied if new else 0
                    subs.append(self._sub(statement.id, i, s, "FINISHED", rows))
                statement.status = "FINISHED"
            elif self.mode == "fail":
                subs = [self._sub(statement.id, i, s, "FAILED" if s.startswith("COPY ") else "ABORTED", 0,
                                  self.failure_text if s.startswith("COPY ") else None) for i, s in enumerate(sqls)]
                statement.status = "FAILED"
                statement.error = self.failure_text
            else:
                subs = [self._sub(statement.id, i, s, "ABORTED", 0) for i, s in enumerate(sqls)]
                statement.status = "ABORTED"
            statement.sub_statements = subs
            backend = rd_models.redshiftdata_backends[params["_account"]][params["_region"]]
            backend.statements[statement.id] = statement
        return {"Id": statement.id, "Database": params.get("Database"), "CreatedAt": time.time()}

    def install(self) -> None:
        standin = self

        def batch_execute_statement(self):  # noqa: ANN001 - moto's response method
            params = json.loads(self.body or "{}")
            params["_account"], params["_region"] = self.current_account, self.region
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
            return status, headers, json.dumps(_epoch_times(out))

        original_describe = RedshiftDataAPIServiceResponse.describe_statement

        def describe_statement(self):  # noqa: ANN001
            status, headers, body = original_describe(self)
            out = json.loads(body)
            backend = rd_models.redshiftdata_backends[self.current_account][self.region]
            st = backend.statements.get(out.get("Id"))
            if st is not None and getattr(st, "error", None):
                out["Error"] = st.error
            return status, headers, json.dumps(_epoch_times(out))

        RedshiftDataAPIServiceResponse.batch_execute_statement = batch_execute_statement
        RedshiftDataAPIServiceResponse.execute_statement = execute_statement
        RedshiftDataAPIServiceResponse.describe_statement = describe_statement


def _epoch_times(out: dict) -> dict:
    """AWS sends Data API timestamps as epoch seconds; moto sends ISO text."""
    from datetime import datetime, timezone

    for field in ("CreatedAt", "UpdatedAt"):
        value = out.get(field)
        if isinstance(value, str):
            out[field] = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()
    return out
