"""The real handlers and the real AWS SDK calls, over HTTP against moto's server:
bootstrap → vendor records into Kinesis (boto3) → drive (batcher + loader) → what landed."""

from __future__ import annotations

import base64
import collections
import json

from conftest import feed_lines, fixture_bytes


def vendor_records(stack) -> list[bytes]:
    """Every fixture shape plus a generated feed with bad records and duplicates."""
    records = [
        fixture_bytes("braze_nested_send.json"),
        fixture_bytes("braze_batch.json"),
        fixture_bytes("braze_flat_open.json"),
        fixture_bytes("braze_flat_no_event_type.json"),
        fixture_bytes("airship_rtds.ndjson"),
        fixture_bytes("not_utf8.bin"),
    ]
    stack.pushfeed("generate", "--events", "3000", "--bad-rate", "0.02", "--seed", "7", "--output", str(stack.tmp / "feed.jsonl"))
    return records + feed_lines(stack.tmp / "feed.jsonl")


def reference(stack, records: list[bytes]) -> tuple[dict, dict]:
    """The embedded pipeline over the same records: the expected ids per table."""
    path = stack.tmp / "ref.jsonl"
    path.write_text("\n".join(json.dumps({"kinesis": {"data": base64.b64encode(r).decode()}}) for r in records))
    out = stack.pushfeed("run", "--quiet", "--json", "--input", str(path), "--data-dir", str(stack.tmp / "ref"))
    summary = json.loads(out.stdout)
    ids = {}
    for table in summary["rows_loaded"]:
        rows = json.loads(stack.pushfeed("sql", "--json", f"SELECT event_id FROM {table}", "--data-dir", str(stack.tmp / "ref")).stdout)
        ids[table] = {r["event_id"] for r in rows}
    return summary, ids


def lines_by_prefix(stack) -> dict[str, list[dict]]:
    out = collections.defaultdict(list)
    for key, body in stack.objects():
        prefix = key.split("/")[1]
        for line in body.split(b"\n"):
            if line.strip():
                out[prefix].append(json.loads(line))
    return out


def test_every_event_lands_in_its_prefix_and_every_object_loads_once(stack):
    stack.bootstrap()
    records = vendor_records(stack)
    stack.put(records)
    summary = stack.drive()

    assert summary["records_in"] == len(records)
    assert summary["batch_item_failures"] == 0
    assert summary["load_failures"] == 0 and summary["unmatched_keys"] == 0
    assert summary["metrics"]["RecordsIn"] == len(records)

    ref_summary, ref_ids = reference(stack, records)
    landed = lines_by_prefix(stack)
    audit_lines = landed.pop("audit")
    # Every valid event is in its type's prefix; the set of ids equals what the embedded
    # warehouse holds for that table, and nothing is anywhere else.
    for table, ids in ref_ids.items():
        if table == "push_quarantine":
            continue  # quarantine ids embed the shard and sequence number, which differ
        prefix = table.removeprefix("push_")
        assert {line["event_id"] for line in landed[prefix]} == ids, table
    assert set(landed) <= {t.removeprefix("push_") for t in ref_ids}
    assert sum(len(v) for v in landed.values()) == ref_summary["lines_written"]
    assert summary["routed"] == {k: v for k, v in {**ref_summary["routed"], "unknown_type": ref_summary["unknown_type"]}.items() if v}

    # Every bad record is in the quarantine with its reason.
    reasons = collections.Counter(l["reason"] for l in landed["quarantine"] if l["chunk_index"] == 0)
    assert dict(reasons) == ref_summary["quarantined"]
    ref_raw = json.loads(stack.pushfeed("sql", "--json", "SELECT reason, raw FROM push_quarantine", "--data-dir", str(stack.tmp / "ref")).stdout)
    assert collections.Counter((l["reason"], l["raw"]) for l in landed["quarantine"]) == collections.Counter((r["reason"], r["raw"]) for r in ref_raw)
    not_utf8 = [l for l in landed["quarantine"] if l["reason"] == "not_utf8" and l["raw_encoding"] == "base64"]
    assert any(base64.b64decode(l["raw"]) == fixture_bytes("not_utf8.bin") for l in not_utf8)

    # One load transaction per object, naming that object.
    objects = {key for key, body in stack.objects()}
    copied = [b for b in stack.standin.batches if any(s.startswith("COPY ") for s in b["sqls"])]
    assert all(len(b["tx"].objects) == 1 for b in copied), "each COPY read exactly one object (its manifest)"
    copy_keys = {b["tx"].objects[0] for b in copied}
    assert copy_keys == objects
    assert len(stack.standin.batches) == len(objects)
    assert summary["objects_loaded"] == len(objects)
    # Rows, as the Redshift stand-in committed them, are the embedded warehouse's rows:
    # the same load algorithm, the same dedup, the same counts.
    assert summary["rows_loaded"] == sum(ref_summary["rows_loaded"].values())
    for table, ids in ref_ids.items():
        rows = stack.standin.rows(table)
        assert len(rows) == ref_summary["rows_loaded"][table], table
        if table != "push_quarantine":
            assert collections.Counter(r["event_id"] for r in rows) == collections.Counter(ids), table

    # The audit trail travelled the same path: the batcher's audit records went through
    # their own Firehose stream into S3 and were loaded into push_audit; per table they
    # count exactly the lines that landed, and the audit view, read by `pushfeed audit`
    # through the Data API, balances every hour.
    sent = collections.Counter()
    for line in audit_lines:
        sent[line["table_name"]] += line["lines"]
    assert dict(sent) == {f"push_{p}": len(v) for p, v in landed.items()}
    assert len(stack.standin.rows("push_audit")) == len(audit_lines)
    assert summary["audit_records_loaded"] == len(audit_lines)
    audit = json.loads(stack.pushfeed("audit", "--env", stack.env_name, "--json", "--since", "1h").stdout)
    assert audit["sent"] == sum(sent.values()) == audit["lines_loaded"]
    assert audit["rows_inserted"] == summary["rows_loaded"]
    assert audit["missing"] == 0 and audit["in_flight"] == 0 and audit["balanced"]
    assert {r["status"] for r in audit["rows"]} == {"balanced"}
    assert {r["table"] for r in audit["rows"]} == set(sent)


def test_the_recorded_transaction_is_exactly_the_plan_and_redelivery_loads_nothing(stack):
    stack.bootstrap()
    stack.put([fixture_bytes("braze_nested_send.json"), fixture_bytes("braze_batch.json")])
    first = stack.drive()
    assert first["objects_loaded"] >= 1
    key, body = next((k, b) for k, b in stack.objects() if k.startswith("push/send/"))
    head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
    plan = json.loads(stack.pushfeed("plan-load", f"s3://{stack.bucket}/{key}", "--etag", head["ETag"].strip('"'),
                                     "--size", str(head["ContentLength"]),
                                     "--copy-role", f"arn:aws:iam::123456789012:role/pushfeed-{stack.env_name}-redshift-copy").stdout)
    recorded = next(b for b in stack.standin.batches if any(key in s for s in b["sqls"]))
    assert recorded["sqls"] == plan
    assert recorded["workgroup"] == f"pushfeed-{stack.env_name}" and recorded["database"] == "dev"
    assert plan[0] == "LOCK pushfeed.pushfeed_load_ledger", "the ledger is locked before anything reads"
    assert " MANIFEST " in plan[2] and not plan[2].endswith("GZIP"), "moto does not compress, so the key has no .gz and COPY no GZIP"

    # S3 delivers notifications at least once: every object's notification again, and a
    # second driver (reading only new records) loads nothing.
    resend_notifications(stack)
    again = stack.drive("--starting-position", "latest")
    assert again["duplicate_objects"] == first["objects_loaded"] + first["empty_objects"]
    assert again["rows_loaded"] == 0 and again["metrics"]["DuplicateObjects"] == again["duplicate_objects"]


def resend_notifications(stack) -> None:
    """Each object's ObjectCreated notification once more, as S3 may deliver it."""
    url = stack.sqs.get_queue_url(QueueName=f"pushfeed-{stack.env_name}-loads")["QueueUrl"]
    for key, body in stack.objects():
        head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
        event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-2",
                              "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                              "userIdentity": {"principalId": "AWS:x"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                              "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "pushfeed-loads",
                              "bucket": {"name": stack.bucket, "arn": f"arn:aws:s3:::{stack.bucket}"},
                              "object": {"key": key, "size": head["ContentLength"], "eTag": head["ETag"].strip('"')}}}]}
        stack.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))


def test_a_failed_load_sends_one_alert_per_attempt_and_is_counted(stack):
    stack.bootstrap()
    stack.standin.mode = "fail"
    stack.put([fixture_bytes("braze_nested_send.json")])
    summary = stack.drive()
    # Two objects: the send events and the batcher's audit record, each tried until the
    # queue's maxReceiveCount (3 here).
    assert summary["load_failures"] == 6, "tried until the queue's maxReceiveCount (3 here)"
    assert summary["metrics"]["LoadFailures"] == 6
    assert summary["loads_dead_lettered"] == 2, "then the messages wait in the dead-letter queue"
    messages = [m for m in stack.topic_messages() if m[0].endswith("push_send")]
    assert len(messages) == 3
    assert len(stack.topic_messages()) == 6
    subject, message = messages[0]
    assert subject == "pushfeed load failed: push_send"
    key = next(k for k, _ in stack.objects() if k.startswith("push/send/"))
    for needle in [f"bucket: {stack.bucket}", f"key: {key}", "table: push_send", "statement id: ", "Load into table 'pushfeed_stage' failed"]:
        assert needle in message, needle
    assert any("sys_load_error_detail" in sql for sql in stack.standin.executes), "the load error detail was looked up"


def test_an_unmatched_key_is_alerted_and_the_rest_still_loads(stack):
    stack.bootstrap()
    stack.s3.put_object(Bucket=stack.bucket, Key="push/not-a-type/2026/01/01/00/x", Body=b"{}\n")
    stack.put([fixture_bytes("braze_flat_open.json")])
    summary = stack.drive()
    assert summary["unmatched_keys"] == 1
    assert summary["objects_loaded"] == 2, "the click's object and the batcher's audit record"
    assert summary["rows_loaded"] == 1 and summary["audit_records_loaded"] == 1
    assert any("matches no table" in s and "push/not-a-type/2026/01/01/00/x" in m for s, m in stack.topic_messages())


def test_drive_says_what_to_do_when_the_stack_is_missing(stack):
    out = stack.pushfeed("drive", "--env", "nothere", "--idle-exit", "1", check=False)
    assert out.returncode != 0
    assert b"did `pushfeed bootstrap` run?" in out.stderr


def test_a_redshift_outage_ends_in_the_dead_letter_queue_and_redrive_loads_it_once(stack):
    """Redshift down for a stretch: every load fails until its messages reach the DLQ; once
    it is back, `pushfeed redrive` returns them and the loader loads each object once."""
    stack.bootstrap()
    records = vendor_records(stack)
    stack.put(records)
    stack.standin.mode = "fail"
    down = stack.drive()
    objects = stack.objects()
    assert down["records_in"] == len(records) and down["objects_loaded"] == 0
    assert down["loads_dead_lettered"] == len(objects), "every load is waiting in the dead-letter queue"
    assert not stack.standin.ledger

    stack.standin.mode = "finish"
    moved = json.loads(stack.pushfeed("redrive", "--env", stack.env_name, "--json").stdout)
    assert moved["how"] == "start_message_move_task" and moved["task_handle"]
    up = stack.drive("--starting-position", "latest")
    assert up["objects_loaded"] + up["empty_objects"] == len(objects)
    assert up["loads_dead_lettered"] == 0 and up["load_failures"] == 0

    ref_summary, ref_ids = reference(stack, records)
    for table, ids in ref_ids.items():
        rows = stack.standin.rows(table)
        assert len(rows) == ref_summary["rows_loaded"][table], f"{table}: 0 lost, 0 doubled"
        if table != "push_quarantine":
            assert {r["event_id"] for r in rows} == ids, table
    assert len(stack.standin.ledger) == len(objects)
    # Running it again changes nothing.
    assert json.loads(stack.pushfeed("redrive", "--env", stack.env_name, "--json").stdout)["task_handle"]
    assert stack.drive("--starting-position", "latest")["objects_loaded"] == 0
    # An endpoint without StartMessageMoveTask: --move-here does the same move itself.
    stack.standin.mode = "fail"
    resend_notifications(stack)
    stack.drive("--starting-position", "latest")
    stack.standin.mode = "finish"
    here = json.loads(stack.pushfeed("redrive", "--env", stack.env_name, "--json", "--move-here").stdout)
    assert here["how"] == "moved_by_pushfeed" and here["moved"] == len(objects)
    after = stack.drive("--starting-position", "latest")
    assert after["duplicate_objects"] == len(objects) and after["rows_loaded"] == 0
