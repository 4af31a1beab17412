"""`pushfeed status` as an operator on call runs it: against a deployed stack (moto's
server and the Redshift stand-in) and against a local data dir, as a table and --json."""

from __future__ import annotations

import json
import subprocess

from conftest import binary, fixture_bytes


def test_status_of_a_deployed_stack_after_a_drive(stack):
    stack.bootstrap()
    stack.put([fixture_bytes("braze_nested_send.json"), fixture_bytes("braze_batch.json"), fixture_bytes("airship_rtds.ndjson")])
    stack.drive()
    out = stack.pushfeed("status", "--env", stack.env_name, "--json")
    s = json.loads(out.stdout)
    assert s["target"].startswith(f"environment {stack.env_name} (")
    tables = {t["table"]: t for t in s["tables"]}
    sends = tables["push_send"]
    assert sends["objects_loaded"] >= 1 and sends["lines_loaded"] >= 1
    assert sends["last_load_at"] and sends["newest_event_at"]
    assert sends["freshness_minutes"] is not None
    assert s["loads_queue_depth"] == 0 and s["loads_dead_lettered"] == 0
    assert s["batcher_failure_records"] == 0
    assert s["alarms_in_alarm"] == []
    assert s["audit_last_48h"].get("balanced", 0) >= 1 and "missing" not in s["audit_last_48h"]
    assert 0 <= s["quarantine_ratio"] < 1

    # An alarm in ALARM (put and set through moto's CloudWatch) is listed; one that is OK
    # is not; the stream's input rate is read from CloudWatch.
    import boto3
    from datetime import datetime, timedelta, timezone

    cw = boto3.client("cloudwatch", endpoint_url=stack.endpoint, region_name="eu-west-2",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    for name in ("batcher-errors", "loads-waiting"):
        cw.put_metric_alarm(AlarmName=f"pushfeed-{stack.env_name}-{name}", MetricName="Errors", Namespace="AWS/Lambda",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
                            ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=f"pushfeed-{stack.env_name}-batcher-errors", StateValue="ALARM", StateReason="test")
    cw.put_metric_data(Namespace="AWS/Kinesis", MetricData=[{
        "MetricName": "IncomingRecords", "Dimensions": [{"Name": "StreamName", "Value": stack.stream}],
        "Value": 1800.0, "Timestamp": datetime.now(timezone.utc) - timedelta(minutes=2)}])
    s = json.loads(stack.pushfeed("status", "--env", stack.env_name, "--json").stdout)
    assert s["alarms_in_alarm"] == [f"pushfeed-{stack.env_name}-batcher-errors"]
    assert s["input_records_per_s"] == 2.0, s["input_records_per_s"]

    # Loads that keep failing end in the dead-letter queue: status names the way back.
    stack.standin.mode = "fail"
    stack.put([fixture_bytes("braze_flat_open.json")])
    stack.drive()
    text = stack.pushfeed("status", "--env", stack.env_name).stdout.decode()
    s = json.loads(stack.pushfeed("status", "--env", stack.env_name, "--json").stdout)
    assert s["loads_dead_lettered"] >= 1, s
    assert "dead-lettered → pushfeed redrive" in text, text
    assert f"alarms in ALARM          pushfeed-{stack.env_name}-batcher-errors" in text


def test_status_of_a_data_dir(tmp_path):
    d = tmp_path / "pushfeed-data"
    subprocess.run([binary(), "run", "--events", "3000", "--bad-rate", "0.01", "--data-dir", str(d), "--quiet"],
                   check=True, capture_output=True)
    p = subprocess.run([binary(), "status", "--data-dir", str(d), "--json"], check=True, capture_output=True, text=True)
    s = json.loads(p.stdout)
    tables = {t["table"]: t for t in s["tables"]}
    assert tables["push_send"]["objects_loaded"] >= 1
    assert tables["push_quarantine"]["lines_loaded"] == s["quarantined_lines"] > 0
    assert 0 < s["quarantine_ratio"] < 0.05
    assert s["objects_waiting"] == 0
    assert set(s["audit_last_48h"]) <= {"balanced", "in_flight", "missing", "surplus"}
    # An object written and not loaded shows as waiting.
    obj = next((d / "objects" / "pushfeed-local" / "push" / "send").rglob("*.gz"))
    obj.with_name("zz-not-loaded.gz").write_bytes(obj.read_bytes())
    s = json.loads(subprocess.run([binary(), "status", "--data-dir", str(d), "--json"], check=True,
                                  capture_output=True, text=True).stdout)
    assert s["objects_waiting"] == 1
    table = subprocess.run([binary(), "status", "--data-dir", str(d)], check=True, capture_output=True, text=True).stdout
    assert "push_send" in table and "objects not loaded yet   1" in table
