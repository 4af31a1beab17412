"""Recovery when AWS loses or stalls work: an object whose S3 notification never arrived is
found and loaded by `pushfeed reconcile` (against moto with the stand-ins, and against a
local data dir)."""

from __future__ import annotations

import json
import os
import time

from conftest import fixture_bytes
from test_redshift_semantics import lines


def test_an_object_whose_notification_never_arrived_is_found_and_loaded_by_reconcile(stack):
    stack.bootstrap()
    stack.put([fixture_bytes("braze_nested_send.json"), fixture_bytes("braze_flat_open.json")])
    first = stack.drive()
    assert first["objects_loaded"] >= 2
    # The notification is lost: written while the bucket notifies nobody.
    config = stack.s3.get_bucket_notification_configuration(Bucket=stack.bucket)
    config.pop("ResponseMetadata", None)
    stack.s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration={})
    lost = "push/open/2026/01/01/10/pushfeed-x-open-1-2026-01-01-10-00-00-lost"
    stack.s3.put_object(Bucket=stack.bucket, Key=lost, Body=lines(range(7000, 7025)))
    stack.s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration=config)
    assert stack.drive("--starting-position", "latest")["objects_loaded"] == 0, "nothing told the loader"

    stack.standin.result_page_size = 2  # the ledger comes back in pages (NextToken)
    dry = json.loads(stack.pushfeed("reconcile", "--env", stack.env_name, "--since", "1h", "--until", "0s", "--dry-run", "--json").stdout)
    assert dry["missing"] == [f"s3://{stack.bucket}/{lost}"] and dry["redriven"] == 0
    assert dry["in_ledger"] == dry["objects_listed"] - 1 >= 2
    done = json.loads(stack.pushfeed("reconcile", "--env", stack.env_name, "--since", "1h", "--until", "0s", "--json").stdout)
    assert done["redriven"] == 1
    loaded = stack.drive("--starting-position", "latest")
    assert loaded["objects_loaded"] == 1 and loaded["rows_loaded"] == 25
    assert {r["event_id"] for r in stack.standin.rows("push_open")} >= {f"e{i}" for i in range(7000, 7025)}
    again = json.loads(stack.pushfeed("reconcile", "--env", stack.env_name, "--since", "1h", "--until", "0s", "--json").stdout)
    assert again["missing"] == [] and again["in_ledger"] == again["objects_listed"]


def test_reconcile_loads_a_local_object_the_run_never_loaded(stack, tmp_path):
    data = tmp_path / "data"
    feed = tmp_path / "feed.jsonl"
    stack.pushfeed("generate", "--events", "500", "--seed", "3", "--output", str(feed))
    stack.pushfeed("run", "--quiet", "--input", str(feed), "--data-dir", str(data))
    key = "push/open/2026/01/01/10/pushfeed-local-open-1-2026-01-01-10-00-00-lost"
    path = data / "objects" / "pushfeed-local" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lines(range(9000, 9010)))
    out = json.loads(stack.pushfeed("reconcile", "--data-dir", str(data), "--since", "1h", "--until", "0s", "--json").stdout)
    assert out["missing"] == [f"pushfeed-local/{key}"] and out["redriven"] == 1
    rows = json.loads(stack.pushfeed("sql", "--json", "SELECT COUNT(*) AS n FROM push_open WHERE event_id LIKE 'e90%'", "--data-dir", str(data)).stdout)
    assert rows == [{"n": 10}]
    again = json.loads(stack.pushfeed("reconcile", "--data-dir", str(data), "--since", "1h", "--until", "0s", "--json").stdout)
    assert again["missing"] == []


def test_batches_firehose_refused_are_kept_in_s3_and_replay_lands_them_once(stack):
    from fault_proxy import FaultProxy
    from test_pipeline import reference, vendor_records

    stack.bootstrap()
    records = vendor_records(stack)
    stack.put(records)
    # Firehose refuses every PutRecordBatch for longer than the retries last.
    proxy = FaultProxy(stack.endpoint, firehose_throttle=0.0, firehose_permanent=1.0, firehose_entry_failure=0.0,
                       sqs_receive_failure=0.0).start()
    try:
        stack.env["AWS_ENDPOINT_URL"] = proxy.endpoint
        down = stack.drive("--max-retries", "1")
    finally:
        stack.env["AWS_ENDPOINT_URL"] = stack.endpoint
        proxy.stop()
    assert down["records_to_dlq"] == len(records), "every record was given up on…"
    assert stack.objects() == [], "…and nothing reached S3 under push/"
    failures = stack.objects("aws/lambda/")
    assert failures, "the discarded batches are kept, whole, in the bucket"
    doc = json.loads(failures[0][1])
    assert doc["requestContext"]["condition"] == "RetryAttemptsExhausted" and doc["KinesisBatchInfo"]["batchSize"] >= 1

    dry = json.loads(stack.pushfeed("replay", "--env", stack.env_name, "--dry-run", "--json").stdout)
    assert dry["kinesis_records"] == len(records) and dry["events_sent"] == 0
    sent = json.loads(stack.pushfeed("replay", "--env", stack.env_name, "--json").stdout)
    assert sent["kinesis_records"] == len(records) and sent["failed_again"] == 0
    stack.drive("--starting-position", "latest")
    # Replaying again (an operator unsure it worked) adds no row.
    json.loads(stack.pushfeed("replay", "--env", stack.env_name, "--json").stdout)
    again = stack.drive("--starting-position", "latest")
    assert again["rows_loaded"] == 0 and again["objects_loaded"] >= 1

    ref_summary, ref_ids = reference(stack, records)
    for table, ids in ref_ids.items():
        rows = stack.standin.rows(table)
        if table == "push_quarantine":
            assert len(rows) == ref_summary["rows_loaded"][table], table
            continue
        assert {r["event_id"] for r in rows} == ids and len(rows) == len(ids), f"{table}: 0 lost, 0 doubled"

    # The same records from a folder (downloaded failure records).
    folder = stack.tmp / "failures"
    folder.mkdir()
    for i, (_, body) in enumerate(failures):
        (folder / f"{i}.json").write_bytes(body)
    local = json.loads(stack.pushfeed("replay", "--env", stack.env_name, "--from-dir", str(folder), "--dry-run", "--json").stdout)
    assert local["kinesis_records"] == len(records)


def test_a_stalled_firehose_call_times_out_and_is_retried_within_the_deadline(stack):
    from fault_proxy import FaultProxy
    from test_pipeline import lines_by_prefix, reference, vendor_records

    stack.bootstrap()
    records = vendor_records(stack)[:400]
    stack.put(records)
    proxy = FaultProxy(stack.endpoint, firehose_throttle=0.0, firehose_permanent=0.0, firehose_entry_failure=0.0,
                       sqs_receive_failure=0.0)
    proxy.forced = {}
    proxy.stall_firehose_calls = {1, 2}  # the first two calls are accepted and never answered
    proxy.start()
    try:
        stack.env["AWS_ENDPOINT_URL"] = proxy.endpoint
        started = time.time()
        summary = stack.drive("--attempt-timeout-ms", "1500")
        took = time.time() - started
    finally:
        stack.env["AWS_ENDPOINT_URL"] = stack.endpoint
        proxy.stop()
    assert proxy.injected["firehose_stalled_calls"] == 2
    assert took < proxy.stall_seconds * 2, "the stalled calls were abandoned, not waited out"
    assert summary["metrics"]["FirehoseRetries"] > 0
    assert summary["batch_item_failures"] == 0 and summary["records_to_dlq"] == 0
    # Nothing acknowledged that was not written: every event landed (duplicates possible).
    ref_summary, ref_ids = reference(stack, records)
    landed = lines_by_prefix(stack)
    for table, ids in ref_ids.items():
        if table != "push_quarantine":
            assert {l["event_id"] for l in landed[table.removeprefix("push_")]} == ids, table
        assert len(stack.standin.rows(table)) == ref_summary["rows_loaded"][table], f"{table}: 0 lost, 0 doubled"


def test_the_heartbeat_terraform_sends_lands_in_its_own_table_with_a_freshness_figure(stack):
    import re
    from pathlib import Path

    import hcl2

    module = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "pushfeed" / "heartbeat.tf"
    with module.open() as fh:
        doc = hcl2.load(fh)
    target = next(r for b in doc["resource"] for t, named in b.items() if t.strip('"') == "aws_cloudwatch_event_target"
                  for n, r in named.items() if n.strip('"') == "canary")
    template = target["input_transformer"][0]["input_template"]
    template = template.strip('"') if template.startswith('"') else template
    template = re.sub(r"^<<-?TEMPLATE\n|\n?\s*TEMPLATE$", "", template).strip()
    # What EventBridge would put: the scheduled event's id and time in the template.
    record = template.replace("<id>", "3f0d9a6c-5f31-4c7e-9b1e-000000000001").replace("<time>", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    json.loads(record)
    stack.bootstrap()
    stack.put([record.encode(), fixture_bytes("braze_flat_open.json")])
    summary = stack.drive()
    assert summary["routed"].get("canary") == 1 and "unknown_type" not in summary["routed"]
    [row] = stack.standin.rows("push_canary")
    assert row["event_id"] == "canary-3f0d9a6c-5f31-4c7e-9b1e-000000000001" and row["vendor_event_type"] == "PUSHFEED_CANARY"
    assert summary["metrics"]["EventFreshnessSeconds"] >= 0, "the loader reported the heartbeat's freshness"
