"""The loader against a Redshift stand-in that models snapshot isolation, LOCK, COPY's
prefix and manifest semantics (tests/e2e/redshift_standin.py), over HTTP with the real SDK:
concurrent loads never double a row or lose one, COPY reads exactly one object, and an S3
event without size or ETag is completed by HeadObject.

The stand-in is not Redshift; what it models is cited in docs/design.md. The two
`…_without_the_lock…` / `…prefix…` tests show that the model can fail: the same race with
the LOCK removed doubles rows, and a COPY from a key prefix reads a neighbour."""

from __future__ import annotations

import collections
import json
import threading
import time

import boto3

from conftest import REGION

OPEN = "push/open/2026/01/01/10/pushfeed-t-open-1-2026-01-01-10-00-00-{}"


def lines(ids) -> bytes:
    out = []
    for i in ids:
        out.append(json.dumps({
            "event_id": f"e{i}", "event_type": "open", "vendor": "braze",
            "vendor_event_type": "users.messages.pushnotification.Open",
            "occurred_at": f"2026-01-01T10:{i % 60:02d}:00.000Z", "received_at": "2026-01-01T10:30:00.000Z",
            "user_id": f"u{i}", "source_shard_id": "shardId-000000000000", "source_sequence_number": str(i),
        }))
    return ("\n".join(out) + "\n").encode()


def setup(stack, objects: dict[str, range]) -> None:
    stack.bootstrap()
    for key, ids in objects.items():
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=lines(ids))


def race(stack, *keys: str) -> list[dict]:
    procs = [stack.load(k) for k in keys]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode(errors="replace")[-3000:]
        results.extend(json.loads(out)["objects"])
    return results


def event_counts(stack) -> collections.Counter:
    return collections.Counter(r["event_id"] for r in stack.standin.rows("push_open"))


def test_two_loaders_racing_on_one_object_load_it_once(stack):
    key = OPEN.format("a")
    setup(stack, {key: range(400)})
    stack.standin.copy_delay = 0.6  # both transactions are in flight at once
    results = race(stack, key, key)
    counts = event_counts(stack)
    assert len(counts) == 400 and max(counts.values()) == 1, "0 lost, 0 doubled"
    assert sorted(r["result"] for r in results) == ["already_loaded", "loaded"]
    assert [k[1] for k in stack.standin.ledger] == [key]
    # Both transactions overlapped: the second was submitted before the first committed.
    txs = [b["tx"] for b in stack.standin.batches]
    assert len(txs) == 2 and txs[1].created < txs[0].updated


def test_two_loaders_racing_on_objects_sharing_events_insert_each_event_once(stack):
    a, b = OPEN.format("a"), OPEN.format("b")
    setup(stack, {a: range(0, 300), b: range(200, 500)})
    stack.standin.copy_delay = 0.6
    results = race(stack, a, b)
    counts = event_counts(stack)
    assert len(counts) == 500 and max(counts.values()) == 1, "0 lost, 0 doubled"
    assert {r["result"] for r in results} == {"loaded"}
    assert sum(r["rows"] for r in results) == 500
    assert sorted(k[1] for k in stack.standin.ledger) == sorted([a, b])
    assert sorted(stack.standin.ledger_rows[k]["rows_in_object"] for k in stack.standin.ledger) == [300, 300]


def plan(stack, key: str) -> tuple[list[str], dict]:
    head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
    args = [f"s3://{stack.bucket}/{key}", "--etag", head["ETag"].strip('"'), "--size", str(head["ContentLength"])]
    sqls = json.loads(stack.pushfeed("plan-load", *args).stdout)
    manifest = json.loads(stack.pushfeed("plan-load", *args, "--manifest").stdout)
    return sqls, manifest


def run_batches(stack, batches: list[list[str]]) -> None:
    client = boto3.client("redshift-data", endpoint_url=stack.endpoint, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    ids = []

    def submit(sqls):
        ids.append(client.batch_execute_statement(WorkgroupName="pushfeed-test", Database="dev", Sqls=sqls)["Id"])

    threads = [threading.Thread(target=submit, args=(s,)) for s in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.time() + 60
    while any(b["tx"].status in ("SUBMITTED", "STARTED") for b in stack.standin.batches):
        assert time.time() < deadline
        time.sleep(0.05)


def test_without_the_lock_the_same_race_doubles_rows(stack):
    """The model fails the way Redshift's SNAPSHOT isolation would: drop the LOCK from the
    loader's own transaction and two overlapping loads of one object both insert."""
    key = OPEN.format("a")
    setup(stack, {key: range(100)})
    sqls, manifest = plan(stack, key)
    stack.s3.put_object(Bucket=stack.bucket, Key=manifest["key"], Body=json.dumps(manifest["body"]).encode())
    assert sqls[0].startswith("LOCK ")
    stack.standin.copy_delay = 0.5
    run_batches(stack, [sqls[1:], sqls[1:]])
    counts = event_counts(stack)
    assert len(counts) == 100 and set(counts.values()) == {2}, "without LOCK both snapshots miss the other's rows"
    # With the LOCK, the same two batches insert once.
    stack.standin.reset()
    setup(stack, {key: range(100)})
    stack.s3.put_object(Bucket=stack.bucket, Key=manifest["key"], Body=json.dumps(manifest["body"]).encode())
    stack.standin.copy_delay = 0.5
    run_batches(stack, [sqls, sqls])
    counts = event_counts(stack)
    assert len(counts) == 100 and set(counts.values()) == {1}


def test_copy_reads_exactly_the_named_object_not_its_prefix_neighbours(stack):
    key = OPEN.format("a")
    setup(stack, {key: range(50), key + ".bak": range(1000, 1070)})
    [result] = race(stack, key)
    assert result["result"] == "loaded" and result["rows"] == 50
    assert len(event_counts(stack)) == 50, "key.bak did not ride along"
    assert stack.standin.batches[0]["tx"].objects == [key]
    # The model has COPY's prefix semantics: without the manifest the neighbour is read.
    sqls, _ = plan(stack, key)
    prefix_copy = [s for s in sqls if s.startswith("COPY ")][0]
    prefix_copy = prefix_copy.split(" FROM ")[0] + f" FROM 's3://{stack.bucket}/{key}' IAM_ROLE default FORMAT AS JSON 'auto ignorecase'"
    stack.standin.reset()
    setup(stack, {key: range(50), key + ".bak": range(1000, 1070)})
    run_batches(stack, [[sqls[1], prefix_copy]])
    assert stack.standin.batches[0]["tx"].objects == [key, key + ".bak"]


def test_an_s3_event_without_size_or_etag_loads_the_rows_with_the_etag_s3_reports(stack):
    key = OPEN.format("a")
    setup(stack, {key: range(30)})
    [result] = race(stack, key)
    assert result == {"key": key, "result": "loaded", "table": "push_open", "rows": 30, "rows_in_object": 30}
    etag = stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"].strip('"')
    [(bucket, k, e)] = stack.standin.ledger
    assert (bucket, k, e) == (stack.bucket, key, etag)
    assert stack.standin.ledger_rows[(bucket, k, e)]["object_bytes"] == len(lines(range(30)))
