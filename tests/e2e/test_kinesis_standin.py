"""The load test's Kinesis stand-in refuses what a shard's quotas refuse on AWS (Kinesis Data
Streams quotas: 1,000 records/s of writes and 5 GetRecords calls/s per shard), so a load
test meets throttling the way production does."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kinesis():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([sys.executable, str(ROOT / "locust" / "kinesis_standin.py"), str(port)], stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == b"ready"
    yield boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-2",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    p.terminate()


def test_a_shard_refuses_writes_beyond_its_quota_record_by_record(kinesis):
    kinesis.create_stream(StreamName="quota", ShardCount=1)
    second = int(time.time())
    while int(time.time()) == second:  # start at the top of a second
        time.sleep(0.01)
    refused = 0
    for _ in range(3):
        out = kinesis.put_records(StreamName="quota", Records=[{"Data": b"{}", "PartitionKey": str(i)} for i in range(500)])
        refused += out["FailedRecordCount"]
        codes = {r.get("ErrorCode") for r in out["Records"]}
        assert codes <= {None, "ProvisionedThroughputExceededException"}
    it = kinesis.get_shard_iterator(StreamName="quota", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = kinesis.get_records(ShardIterator=it, Limit=10000)["Records"]
    assert len(got) == 1500 - refused
    per_second: dict[int, int] = {}
    for r in got:
        t = int(r["ApproximateArrivalTimestamp"].timestamp())
        per_second[t] = per_second.get(t, 0) + 1
    assert max(per_second.values()) <= 1000, per_second
    if len(per_second) == 1:  # all three calls in one second: exactly the quota taken
        assert refused == 500, refused
    seqs = [int(r["SequenceNumber"]) for r in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(got)
    # An iterator can be used again (until it expires): the same records.
    assert len(kinesis.get_records(ShardIterator=it, Limit=10000)["Records"]) == len(got)


def test_a_shard_serves_five_get_records_a_second(kinesis):
    from botocore.config import Config

    kinesis.create_stream(StreamName="reads", ShardCount=1)
    it = kinesis.get_shard_iterator(StreamName="reads", ShardId="shardId-000000000000", ShardIteratorType="LATEST")["ShardIterator"]
    # No SDK retries: see the sixth call's refusal itself.
    raw = boto3.client("kinesis", endpoint_url=kinesis.meta.endpoint_url, region_name="eu-west-2", aws_access_key_id="testing",
                       aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    codes, started = [], time.monotonic()
    for _ in range(30):
        try:
            it = raw.get_records(ShardIterator=it)["NextShardIterator"]
            codes.append("ok")
        except raw.exceptions.ProvisionedThroughputExceededException:
            codes.append("refused")
    elapsed = time.monotonic() - started
    # 30 calls as fast as they go: no more than 5 a second served, the rest refused.
    assert "refused" in codes and codes.count("ok") <= 5 * (elapsed + 1), (codes, elapsed)
    time.sleep(1.1)
    raw.get_records(ShardIterator=it)  # the next second serves again
