"""The pipeline under injected Firehose and SQS faults: still nothing lost, and the
retries and batch item failures show in the metrics."""

from __future__ import annotations

import json

from fault_proxy import FaultProxy
from test_pipeline import lines_by_prefix, reference, vendor_records


def test_faults_lose_nothing_and_show_in_the_metrics(stack):
    stack.bootstrap()
    records = vendor_records(stack)
    stack.put(records)
    proxy = FaultProxy(stack.endpoint).start()
    try:
        stack.env["AWS_ENDPOINT_URL"] = proxy.endpoint
        summary = stack.drive("--max-retries", "50")
    finally:
        stack.env["AWS_ENDPOINT_URL"] = stack.endpoint
        proxy.stop()

    injected = proxy.injected
    assert injected["firehose_throttled_calls"] > 0 and injected["firehose_failed_entries"] > 0
    assert injected["firehose_permanent_calls"] > 0 and injected["sqs_receive_failures"] > 0

    # Visible in the metrics and the summary.
    assert summary["metrics"]["FirehoseRetries"] > 0
    assert summary["metrics"]["FailedKinesisRecords"] > 0
    assert summary["batch_item_failures"] > 0 and summary["records_retried"] > 0
    # Nothing lost: every record acknowledged, none dropped, every event id landed.
    assert summary["records_in"] == len(records)
    assert summary["records_to_dlq"] == 0
    ref_summary, ref_ids = reference(stack, records)
    landed = lines_by_prefix(stack)
    for table, ids in ref_ids.items():
        if table == "push_quarantine":
            continue
        assert {line["event_id"] for line in landed[table.removeprefix("push_")]} == ids, table
    quarantined = {(l["reason"], l["raw"]) for l in landed["quarantine"]}
    ref_raw = json.loads(stack.pushfeed("sql", "--json", "SELECT reason, raw FROM push_quarantine", "--data-dir", str(stack.tmp / "ref")).stdout)
    assert quarantined == {(r["reason"], r["raw"]) for r in ref_raw}
    # Redelivery made duplicates in S3, never gaps: at least as many lines as the reference.
    assert sum(len(v) for v in landed.values()) >= ref_summary["lines_written"]
    # Every object was offered to the loader despite the failed receives, and loaded once.
    assert summary["objects_seen"] >= len(stack.objects())
    assert summary["queue_receive_errors"] > 0
    assert summary["objects_loaded"] + summary["empty_objects"] == len(stack.objects())
    assert summary["load_failures"] == 0 and summary["loads_dead_lettered"] == 0
