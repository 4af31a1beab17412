"""A Kinesis Data Streams stand-in that takes the load test's rate: the data plane pushfeed
and the vendor use (CreateStream, DescribeStreamSummary, ListShards, PutRecords,
PutRecord, GetShardIterator, GetRecords), over AWS's JSON 1.1 protocol, in its own
process, records kept in memory.

    python locust/kinesis_standin.py PORT      # prints "ready", serves until killed

moto's Kinesis keeps each record as a Python object behind one lock in the process that
also serves Firehose, S3 and the Data API stand-in: it tops out near 1,000 records/s, so a
load test against it measures moto. This one does per record only what AWS's contract
needs, and models the quotas a producer and a consumer meet on AWS (docs/design.md,
"Kinesis quotas the load test meets"; Amazon Kinesis Data Streams Developer Guide,
"Quotas and limits"; API reference PutRecords, GetRecords, GetShardIterator):

- a shard takes up to 1,000 records and 1 MiB per second of writes; beyond, PutRecords
  fails the record with ``ProvisionedThroughputExceededException`` (the others in the call
  still succeed: "a single record failure does not stop the processing of subsequent
  records") and the producer must retry it;
- PutRecords takes up to 500 records and 5 MiB, a record's data up to 1 MiB;
- the partition key's MD5, as a 128-bit number, picks the shard whose hash key range
  holds it; sequence numbers increase within a shard;
- GetRecords: up to 10,000 records and 10 MiB per call, at most 5 calls per second per
  shard (the sixth fails with ``ProvisionedThroughputExceededException``); a shard
  iterator expires 5 minutes after it is handed out (``ExpiredIteratorException``).

What it does not model: resharding, retention (records stay until the process ends),
enhanced fan-out, encryption, tags, and CREATING: a stream is ACTIVE at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCOUNT = "123456789012"
REGION = "eu-west-2"
MAX_HASH = 2**128 - 1
SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1 << 20
GET_RECORDS_PER_S = 5
ITERATOR_TTL_S = 300
MAX_GET_RECORDS = 10_000
MAX_GET_BYTES = 10 << 20


class Shard:
    def __init__(self, index: int, start: int, end: int) -> None:
        self.id = f"shardId-{index:012d}"
        self.start, self.end = start, end
        self.base = 49_000_000_000_000_000_000_000_000_000_000_000_000_000_000 + index * 10**40
        # (sequence number, data as base64 text, partition key, arrival seconds)
        self.records: list[tuple[int, str, str, float]] = []
        self.lock = threading.Lock()
        self.window_s = 0
        self.window_records = 0
        self.window_bytes = 0
        self.reads: list[float] = []

    def seq(self, i: int) -> str:
        return str(self.base + i)

    def admit(self, size: int, now: float) -> bool:
        """Whether this second's write quota has room for one more record of `size`."""
        second = int(now)
        if second != self.window_s:
            self.window_s, self.window_records, self.window_bytes = second, 0, 0
        if self.window_records + 1 > SHARD_RECORDS_PER_S or self.window_bytes + size > SHARD_BYTES_PER_S:
            return False
        self.window_records += 1
        self.window_bytes += size
        return True


class Stream:
    def __init__(self, name: str, shards: int) -> None:
        self.name = name
        self.arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"
        self.created = time.time()
        step = (MAX_HASH + 1) // shards
        self.shards = [Shard(i, i * step, MAX_HASH if i == shards - 1 else (i + 1) * step - 1) for i in range(shards)]

    def shard_for(self, partition_key: str, explicit: str | None) -> Shard:
        h = int(explicit) if explicit else int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")
        step = (MAX_HASH + 1) // len(self.shards)
        return self.shards[min(h // step, len(self.shards) - 1)]


class KinesisError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Kinesis:
    def __init__(self) -> None:
        self.streams: dict[str, Stream] = {}
        self.lock = threading.Lock()
        self.throttled_puts = 0
        self.throttled_gets = 0

    def stream(self, body: dict) -> Stream:
        name = body.get("StreamName") or str(body.get("StreamARN", "")).rsplit("/", 1)[-1]
        s = self.streams.get(name)
        if s is None:
            raise KinesisError("ResourceNotFoundException", f"Stream {name} under account {ACCOUNT} not found.")
        return s

    def CreateStream(self, body: dict) -> dict:
        name = body["StreamName"]
        with self.lock:
            if name in self.streams:
                raise KinesisError("ResourceInUseException", f"Stream {name} under account {ACCOUNT} already exists.")
            self.streams[name] = Stream(name, int(body.get("ShardCount") or 4))
        return {}

    def DescribeStreamSummary(self, body: dict) -> dict:
        s = self.stream(body)
        return {"StreamDescriptionSummary": {"StreamName": s.name, "StreamARN": s.arn, "StreamStatus": "ACTIVE",
                                             "RetentionPeriodHours": 24, "StreamCreationTimestamp": s.created,
                                             "OpenShardCount": len(s.shards), "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                                             "EncryptionType": "NONE", "ConsumerCount": 0,
                                             "StreamModeDetails": {"StreamMode": "PROVISIONED"}}}

    def shard_json(self, s: Stream) -> list[dict]:
        return [{"ShardId": sh.id, "HashKeyRange": {"StartingHashKey": str(sh.start), "EndingHashKey": str(sh.end)},
                 "SequenceNumberRange": {"StartingSequenceNumber": sh.seq(0)}} for sh in s.shards]

    def ListShards(self, body: dict) -> dict:
        return {"Shards": self.shard_json(self.stream(body))}

    def DescribeStream(self, body: dict) -> dict:
        s = self.stream(body)
        return {"StreamDescription": {"StreamName": s.name, "StreamARN": s.arn, "StreamStatus": "ACTIVE", "Shards": self.shard_json(s),
                                      "HasMoreShards": False, "RetentionPeriodHours": 24, "StreamCreationTimestamp": s.created,
                                      "EnhancedMonitoring": [{"ShardLevelMetrics": []}], "EncryptionType": "NONE"}}

    def put(self, s: Stream, record: dict, now: float) -> dict:
        data, key = record["Data"], record["PartitionKey"]
        size = len(data) * 3 // 4 + len(key.encode())
        if size > (1 << 20):
            raise KinesisError("ValidationException", "1 validation error detected: Value at 'records.member.data' failed to satisfy constraint: Member must have length less than or equal to 1048576")
        shard = s.shard_for(key, record.get("ExplicitHashKey"))
        with shard.lock:
            if not shard.admit(size, now):
                self.throttled_puts += 1
                return {"ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": f"Rate exceeded for shard {shard.id} in stream {s.name} under account {ACCOUNT}."}
            shard.records.append((len(shard.records), data, key, now))
            return {"SequenceNumber": shard.seq(len(shard.records) - 1), "ShardId": shard.id}

    def PutRecords(self, body: dict) -> dict:
        s = self.stream(body)
        records = body.get("Records") or []
        if not 1 <= len(records) <= 500:
            raise KinesisError("ValidationException", f"1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and 500 (was {len(records)})")
        if sum(len(r["Data"]) * 3 // 4 + len(r["PartitionKey"]) for r in records) > 5 << 20:
            raise KinesisError("InvalidArgumentException", "Records size exceeds 5 MB limit")
        now = time.time()
        out = [self.put(s, r, now) for r in records]
        return {"FailedRecordCount": sum(1 for r in out if "ErrorCode" in r), "Records": out, "EncryptionType": "NONE"}

    def PutRecord(self, body: dict) -> dict:
        r = self.put(self.stream(body), body, time.time())
        if "ErrorCode" in r:
            raise KinesisError(r["ErrorCode"], r["ErrorMessage"])
        return {**r, "EncryptionType": "NONE"}

    def iterator(self, stream: str, shard: str, pos: int) -> str:
        """A shard iterator: the position and when it was handed out, as AWS's are (it can be
        used again until it expires)."""
        return base64.b64encode(json.dumps([stream, shard, pos, time.time()]).encode()).decode()

    def GetShardIterator(self, body: dict) -> dict:
        s = self.stream(body)
        shard = next((sh for sh in s.shards if sh.id == body["ShardId"]), None)
        if shard is None:
            raise KinesisError("ResourceNotFoundException", f"Shard {body['ShardId']} in stream {s.name} under account {ACCOUNT} does not exist")
        kind = body["ShardIteratorType"]
        with shard.lock:
            n = len(shard.records)
            if kind == "TRIM_HORIZON":
                pos = 0
            elif kind == "LATEST":
                pos = n
            elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
                i = int(body["StartingSequenceNumber"]) - shard.base
                if not 0 <= i <= n:
                    raise KinesisError("InvalidArgumentException", f"StartingSequenceNumber {body['StartingSequenceNumber']} used in GetShardIterator on shard {shard.id} in stream {s.name} under account {ACCOUNT} is invalid.")
                pos = i + (kind == "AFTER_SEQUENCE_NUMBER")
            elif kind == "AT_TIMESTAMP":
                at = float(body["Timestamp"])
                pos = next((i for i, r in enumerate(shard.records) if r[3] >= at), n)
            else:
                raise KinesisError("ValidationException", f"ShardIteratorType {kind} is not valid")
        return {"ShardIterator": self.iterator(s.name, shard.id, pos)}

    def GetRecords(self, body: dict) -> dict:
        try:
            name, shard_id, pos, issued = json.loads(base64.b64decode(body["ShardIterator"]))
        except ValueError:
            raise KinesisError("InvalidArgumentException", "Invalid ShardIterator.") from None
        now = time.time()
        if now - issued > ITERATOR_TTL_S:
            raise KinesisError("ExpiredIteratorException", f"Iterator expired. The iterator was created at time {issued} while right now it is {now} which is further in the future than the tolerated delay of 300000 milliseconds.")
        s = self.streams[name]
        shard = next(sh for sh in s.shards if sh.id == shard_id)
        limit = min(int(body.get("Limit") or MAX_GET_RECORDS), MAX_GET_RECORDS)
        with shard.lock:
            shard.reads = [t for t in shard.reads if now - t < 1.0]
            if len(shard.reads) >= GET_RECORDS_PER_S:
                self.throttled_gets += 1
                raise KinesisError("ProvisionedThroughputExceededException", f"Rate exceeded for shard {shard.id} in stream {s.name} under account {ACCOUNT}.")
            shard.reads.append(now)
            out, size = [], 0
            for seq, data, key, at in shard.records[pos:pos + limit]:
                size += len(data) * 3 // 4
                if out and size > MAX_GET_BYTES:
                    break
                out.append({"SequenceNumber": shard.seq(seq), "ApproximateArrivalTimestamp": at, "Data": data, "PartitionKey": key})
            end = pos + len(out)
            behind = int((now - shard.records[end][3]) * 1000) if end < len(shard.records) else 0
        return {"Records": out, "NextShardIterator": self.iterator(name, shard_id, end), "MillisBehindLatest": behind}


KINESIS = Kinesis()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def reply(self, status: int, body: dict) -> None:
        raw = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("x-amzn-RequestId", "standin")
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        action = target.rsplit(".", 1)[-1]
        op = getattr(KINESIS, action, None) if action[:1].isupper() else None
        if op is None:
            self.reply(400, {"__type": "UnknownOperationException", "message": f"{action} is not served by the Kinesis stand-in"})
            return
        try:
            self.reply(200, op(json.loads(raw or b"{}")))
        except KinesisError as e:
            self.reply(e.status, {"__type": e.code, "message": e.message})
        except (KeyError, ValueError, TypeError) as e:
            self.reply(400, {"__type": "ValidationException", "message": f"{action}: {e!r}"})

    def do_GET(self) -> None:
        # GET /stats: what the quotas refused, for the load test's report.
        self.reply(200, {"throttled_puts": KINESIS.throttled_puts, "throttled_gets": KINESIS.throttled_gets,
                         "records": {s.name: sum(len(sh.records) for sh in s.shards) for s in KINESIS.streams.values()}})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
