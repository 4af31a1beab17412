"""Shared fixtures: moto's server on a free loopback port (with the Redshift Data API
stand-in), the pushfeed binary, and helpers to run it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

import cloudwatch_cbor
from redshift_standin import RedshiftStandin
from sqs_standin import SqsStandin

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
REGION = "eu-west-2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> str:
    bin_dir = os.environ.get("PUSHFEED_BIN_DIR") or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug")
    path = Path(bin_dir) / "pushfeed"
    if not path.exists():
        pytest.fail(f"{path} not found: build it first (cargo build --bins) or set PUSHFEED_BIN_DIR")
    return str(path)


class Stack:
    def __init__(self, endpoint: str, standin: RedshiftStandin, tmp: Path, env_name: str):
        self.endpoint = endpoint
        self.standin = standin
        self.tmp = tmp
        self.env_name = env_name
        self.env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint, "RUST_LOG": "warn"}
        kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
        self.kinesis = boto3.client("kinesis", **kw)
        self.s3 = boto3.client("s3", **kw)
        self.sns = boto3.client("sns", **kw)
        self.sqs = boto3.client("sqs", **kw)

    @property
    def stream(self) -> str:
        return f"pushfeed-{self.env_name}-vendor"

    @property
    def bucket(self) -> str:
        return f"pushfeed-{self.env_name}-data"

    def pushfeed(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([binary(), *args], env=self.env, capture_output=True, timeout=900, cwd=self.tmp)
        if check and out.returncode != 0:
            raise AssertionError(f"pushfeed {' '.join(args)} failed ({out.returncode}):\n{out.stderr.decode(errors='replace')[-4000:]}")
        return out

    def bootstrap(self) -> None:
        # A short visibility timeout and 3 receives, so failed loads cycle within a test.
        self.pushfeed("bootstrap", "--env", self.env_name, "--shards", "2", "--visibility-timeout", "1", "--max-receive-count", "3")

    def load(self, *objects: str, extra: tuple[str, ...] = ()) -> subprocess.Popen:
        """Start `pushfeed load` (the loader handler, S3 event without size or ETag)."""
        return subprocess.Popen([binary(), "load", "--env", self.env_name, "--json", *extra,
                                 *[f"s3://{self.bucket}/{k}" for k in objects]],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)

    def drive(self, *extra: str) -> dict:
        out = self.pushfeed("drive", "--env", self.env_name, "--json", "--idle-exit", "2", "--window-ms", "300",
                            "--dlq-file", str(self.tmp / "dlq.jsonl"), *extra)
        return json.loads(out.stdout.decode().strip().splitlines()[-1])

    def put(self, records: list[bytes]) -> None:
        for i in range(0, len(records), 500):
            chunk = records[i:i + 500]
            resp = self.kinesis.put_records(StreamName=self.stream, Records=[
                {"Data": r, "PartitionKey": f"pk-{i + j}"} for j, r in enumerate(chunk)])
            assert resp["FailedRecordCount"] == 0

    def objects(self, prefix: str = "push/") -> list[tuple[str, bytes]]:
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                out.append((o["Key"], self.s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()))
        return out

    def topic_messages(self) -> list[tuple[str, str]]:
        from moto.sns.models import sns_backends

        arn = f"arn:aws:sns:{REGION}:123456789012:pushfeed-{self.env_name}-alerts"
        topic = sns_backends["123456789012"][REGION].topics[arn]
        return [(subject or "", message) for (_id, message, subject, _attrs, _group) in topic.sent_notifications]


@pytest.fixture(scope="session")
def moto_endpoint():
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    standin = RedshiftStandin()
    standin.install()
    SqsStandin().install()
    cloudwatch_cbor.install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}", standin
    server.stop()


_counter = [0]


@pytest.fixture()
def stack(moto_endpoint, tmp_path):
    endpoint, standin = moto_endpoint
    # A clean AWS per test (moto allows 50 Firehose streams per region).
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).read()
    standin.reset()
    _counter[0] += 1
    return Stack(endpoint, standin, tmp_path, f"t{_counter[0]}")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def feed_lines(path: Path) -> list[bytes]:
    """Kinesis records of a `pushfeed generate` feed (raw lines and envelopes)."""
    import base64

    records = []
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        if line.startswith(b'{"kinesis"'):
            records.append(base64.b64decode(json.loads(line)["kinesis"]["data"]))
        else:
            records.append(line)
    return records
