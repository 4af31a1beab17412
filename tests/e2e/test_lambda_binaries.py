"""The two Lambda binaries as Lambda runs them (a local Runtime API, scripts/lambda_harness.py):
logs are JSON at the level Lambda's advanced logging controls set, and a failed invocation
reports what kind of failure it is (`errorType`) and what failed, in one line."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from conftest import binary, fixture_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import lambda_harness  # noqa: E402

BATCHER_ENV = {"PUSHFEED_FIREHOSE_STREAM_PREFIX": "pushfeed-test-", "RUST_LOG": ""}
LOADER_ENV = {"PUSHFEED_REDSHIFT_WORKGROUP": "analytics", "PUSHFEED_REDSHIFT_DATABASE": "dev",
              "PUSHFEED_COPY_ROLE_ARN": "arn:aws:iam::123456789012:role/copy",
              "PUSHFEED_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-2:123456789012:alerts", "RUST_LOG": ""}


def bin_path(name: str) -> str:
    return str(Path(binary()).parent / name)


def kinesis_event(*records: bytes) -> bytes:
    return json.dumps({"Records": [
        {"eventID": f"shardId-000000000000:{i}", "eventSource": "aws:kinesis", "eventName": "aws:kinesis:record",
         "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": str(i),
                     "data": base64.b64encode(r).decode(), "approximateArrivalTimestamp": 1767229200.5}}
        for i, r in enumerate(records, 1)]}).encode()


def log_lines(stdout: str) -> list[dict]:
    """The JSON log lines (EMF metric lines are JSON too, but have `_aws`)."""
    out = []
    for line in stdout.splitlines():
        v = json.loads(line)  # every line is JSON: logs and metrics alike
        if "_aws" not in v:
            out.append(v)
    return out


def test_the_batcher_logs_json_at_the_level_lambda_sets():
    event = kinesis_event(fixture_bytes("braze_nested_send.json"), fixture_bytes("airship_connect.ndjson"))
    debug = lambda_harness.invoke(bin_path("pushfeed-batcher"), event, {**BATCHER_ENV, "AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    assert debug["error"] is None, debug
    lines = log_lines(debug["stdout"])
    levels = {line["level"] for line in lines}
    assert "DEBUG" in levels and "INFO" in levels, levels
    assert any(line["fields"].get("message") == "PutRecordBatch" for line in lines if line["level"] == "DEBUG")
    # The AWS SDK's own debug lines stay out unless RUST_LOG names them.
    assert all(not line.get("target", "").startswith("aws_") for line in lines)

    quiet = lambda_harness.invoke(bin_path("pushfeed-batcher"), event, {**BATCHER_ENV, "AWS_LAMBDA_LOG_LEVEL": "ERROR"})
    assert quiet["error"] is None, quiet
    assert log_lines(quiet["stdout"]) == [], quiet["stdout"]
    # Metrics are not logs: they are printed whatever the level.
    assert any('"_aws"' in line for line in quiet["stdout"].splitlines())


def test_a_payload_that_is_not_a_kinesis_event_fails_as_invalid_event():
    out = lambda_harness.invoke(bin_path("pushfeed-batcher"), b'{"foo": 1}', BATCHER_ENV)
    error = json.loads(out["error"])
    assert error["errorType"] == "InvalidEvent", error
    assert error["errorMessage"] == "not a Kinesis event: no Records array (keys: foo)", error
    errors = [line for line in log_lines(out["stdout"]) if line["level"] == "ERROR"]
    assert len(errors) == 1, out["stdout"]  # logged once


def test_the_loader_names_an_unexpected_payload_invalid_event():
    out = lambda_harness.invoke(bin_path("pushfeed-loader"), b'{"foo": 1}', LOADER_ENV)
    error = json.loads(out["error"])
    assert error["errorType"] == "InvalidEvent", error
    assert "\n" not in error["errorMessage"] and "foo" in error["errorMessage"], error
    errors = [line for line in log_lines(out["stdout"]) if line["level"] == "ERROR"]
    assert len(errors) == 1, out["stdout"]


def test_a_missing_setting_ends_the_cold_start_with_one_line_naming_it():
    out = lambda_harness.invoke(bin_path("pushfeed-loader"), b'{"foo": 1}', {**LOADER_ENV, "PUSHFEED_REDSHIFT_DATABASE": ""})
    assert out["error"] and out["error"].startswith("no response"), out
    [line] = log_lines(out["stdout"])
    assert line["level"] == "ERROR" and line["fields"]["error_type"] == "InvalidConfig", line
    assert "PUSHFEED_REDSHIFT_DATABASE" in line["fields"]["error"], line
