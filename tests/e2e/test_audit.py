"""The audit trail on the AWS path, against moto's server and the Redshift stand-in: the
batcher's audit records travel their own Firehose stream into S3 and are loaded like data;
an object lost before its load shows as missing in `pushfeed audit` (table and count) and
in the loader's scheduled audit check (the AuditMissingEvents metric its alarm watches)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import binary, fixture_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import lambda_harness  # noqa: E402


def audit(stack, *extra: str) -> tuple[dict, int]:
    out = stack.pushfeed("audit", "--env", stack.env_name, "--json", "--since", "2h", *extra, check=False)
    return json.loads(out.stdout), out.returncode


def emf(stdout: str) -> dict[str, float]:
    """Metric name → value from the EMF lines a Lambda binary printed (no dimensions)."""
    values: dict[str, float] = {}
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        for directive in doc.get("_aws", {}).get("CloudWatchMetrics", []):
            if directive.get("Dimensions") in ([], [[]]) or not any(d for d in directive.get("Dimensions", [])):
                for m in directive["Metrics"]:
                    values[m["Name"]] = doc[m["Name"]]
    return values


def test_an_object_lost_before_its_load_is_missing_by_table_and_count(stack):
    stack.bootstrap()
    # Loads fail at first, so every object waits in the loads dead-letter queue…
    stack.standin.mode = "fail"
    stack.put([fixture_bytes("braze_nested_send.json"), fixture_bytes("braze_batch.json"), fixture_bytes("airship_rtds.ndjson")])
    stack.drive()
    # …and one of them (the opens) is deleted from the bucket before anyone loads it.
    [(open_key, body)] = [(k, b) for k, b in stack.objects() if k.startswith("push/open/")]
    lost = sum(1 for line in body.split(b"\n") if line.strip())
    stack.s3.delete_object(Bucket=stack.bucket, Key=open_key)
    stack.standin.mode = "finish"
    stack.pushfeed("redrive", "--env", stack.env_name, "--move-here")
    stack.drive("--starting-position", "latest")
    assert stack.standin.rows("push_audit"), "the audit records were loaded"

    # Within the grace period the shortfall is in flight, and nothing is called missing.
    report, code = audit(stack)
    [short] = [r for r in report["rows"] if r["status"] != "balanced"]
    assert (short["table"], short["status"], short["sent"] - short["lines_loaded"]) == ("push_open", "in_flight", lost)
    assert code == 0

    # Two hours on (the stand-in's clock moved past the grace period): missing, exit 3.
    stack.standin.grace_minutes = -120
    report, code = audit(stack)
    [short] = [r for r in report["rows"] if r["status"] != "balanced"]
    assert (short["table"], short["status"], short["missing"]) == ("push_open", "missing", lost)
    assert report["missing"] == lost and code == 3
    assert all(r["status"] == "balanced" for r in report["rows"] if r["table"] != "push_open")

    # The loader binary's scheduled check, under a Lambda Runtime API, reads the same view
    # through the Data API and emits what the alarm watches.
    env = {"AWS_ENDPOINT_URL": stack.endpoint, "PUSHFEED_REDSHIFT_WORKGROUP": f"pushfeed-{stack.env_name}",
           "PUSHFEED_REDSHIFT_DATABASE": "dev", "PUSHFEED_COPY_ROLE_ARN": f"arn:aws:iam::123456789012:role/pushfeed-{stack.env_name}-redshift-copy",
           "PUSHFEED_ALERT_TOPIC_ARN": f"arn:aws:sns:eu-west-2:123456789012:pushfeed-{stack.env_name}-alerts"}
    loader = str(Path(binary()).parent / "pushfeed-loader")
    out = lambda_harness.invoke(loader, json.dumps({"pushfeed": "audit-check"}).encode(), env)
    assert out["error"] is None, out
    metrics = emf(out["stdout"])
    assert metrics["AuditMissingEvents"] == lost
    assert metrics["AuditUnbalancedHours"] == 1
    assert any("v_push_audit_hourly" in q for q in stack.standin.executes)

    # Balanced again: the check says 0 (emitted, not absent: absence alarms).
    stack.standin.grace_minutes = 120
    out = lambda_harness.invoke(loader, json.dumps({"pushfeed": "audit-check"}).encode(), env)
    assert emf(out["stdout"])["AuditMissingEvents"] == 0
