"""The load test driver behind `locust/run` (see there)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description="Locust load test of pushfeed (see locust/run).")
    ap.add_argument("--rate", type=float, required=True, help="events per second to produce")
    ap.add_argument("--duration", type=int, required=True, help="seconds to produce for")
    ap.add_argument("--endpoint", default="", help="AWS-compatible endpoint; default: start the local stack")
    ap.add_argument("--batch-size", type=int, default=250, help="records per PutRecords call")
    ap.add_argument("--users", type=int, default=4, help="Locust users (connections)")
    ap.add_argument("--env", default="load", help="pushfeed environment name")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pushfeed-load-"))
    pushfeed = str(Path(os.environ["PUSHFEED_BIN_DIR"]) / "pushfeed")
    stack = None
    endpoint = args.endpoint
    if not endpoint:
        port = free_port()
        stack = subprocess.Popen([sys.executable, str(ROOT / "locust" / "local_stack.py"), str(port)], stdout=subprocess.PIPE,
                                 stderr=open(work / "local_stack.log", "wb"))
        if stack.stdout.readline().strip() != b"ready":
            print("the local stack did not start", file=sys.stderr)
            return 1
        endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
           "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"), "AWS_REGION": os.environ.get("AWS_REGION", "eu-west-2"),
           "RUST_LOG": "error"}
    try:
        subprocess.run([pushfeed, "bootstrap", "--env", args.env, "--shards", "4"], env=env, check=True, stdout=subprocess.DEVNULL)
        drive = subprocess.Popen([pushfeed, "drive", "--env", args.env, "--starting-position", "latest", "--json", "--idle-exit", "15",
                                  "--window-ms", "1000", "--max-seconds", str(args.duration + 600), "--object-log", str(work / "objects.jsonl"),
                                  "--dlq-file", str(work / "dlq.jsonl")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)  # the driver takes its LATEST iterators before the first put
        sent_log = work / "sent.jsonl"
        started = time.time()
        locust = subprocess.run(
            [str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "locust" / "locustfile.py"), "--headless", "--only-summary",
             "-u", str(args.users), "-r", str(args.users), "--run-time", f"{args.duration}s", "--stop-timeout", "10",
             "--stream", f"pushfeed-{args.env}-vendor", "--rate", str(args.rate), "--batch-size", str(args.batch_size),
             "--endpoint-url", endpoint, "--sent-log", str(sent_log), "--csv", str(work / "locust")],
            env=env, capture_output=True, text=True)
        produced_s = time.time() - started
        out, err = drive.communicate(timeout=args.duration + 900)
        if drive.returncode != 0:
            print(err.decode()[-3000:], file=sys.stderr)
            return 1
        summary = json.loads(out.decode().strip().splitlines()[-1])

        sent = {}
        for line in sent_log.read_text().splitlines() if sent_log.exists() else []:
            rec = json.loads(line)
            sent[rec["id"]] = rec["t"]
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=env["AWS_REGION"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        loaded_at = {}
        objects_log = work / "objects.jsonl"
        for line in objects_log.read_text().splitlines() if objects_log.exists() else []:
            rec = json.loads(line)
            loaded_at[rec["key"]] = rec["loaded_ms"]
        delivered, lags, load_lags = set(), [], []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=f"pushfeed-{args.env}-data", Prefix="push/"):
            for o in page.get("Contents", []):
                created_ms = o["LastModified"].timestamp() * 1000
                for line in s3.get_object(Bucket=f"pushfeed-{args.env}-data", Key=o["Key"])["Body"].read().splitlines():
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    if ev["event_id"] in sent and ev["event_id"] not in delivered:
                        delivered.add(ev["event_id"])
                        lags.append(max(0.0, created_ms - sent[ev["event_id"]]) / 1000)
                        if o["Key"] in loaded_at:
                            load_lags.append(max(0.0, loaded_at[o["Key"]] - sent[ev["event_id"]]) / 1000)
        failures = 0
        stats = work / "locust_stats.csv"
        if stats.exists():
            rows = stats.read_text().splitlines()
            header = rows[0].split(",")
            for row in rows[1:]:
                cells = row.split(",")
                if cells[header.index("Name")] == "Aggregated":
                    failures = int(cells[header.index("Failure Count")])
        # What the stream itself holds, read back from the start: tells records the stream
        # lost (moto's PutRecords is not safe under concurrent writers) from records
        # pushfeed failed to deliver.
        kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name=env["AWS_REGION"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        in_stream = set()
        stream = f"pushfeed-{args.env}-vendor"
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                out = kinesis.get_records(ShardIterator=it, Limit=10000)
                for r in out["Records"]:
                    try:
                        in_stream.add(json.loads(r["Data"])["id"])
                    except (ValueError, KeyError, TypeError):
                        pass
                if not out["Records"]:
                    break
                it = out.get("NextShardIterator")
        lost = len(set(sent) - delivered)
        lost_by_stream = len(set(sent) - in_stream)
        lost_by_pushfeed = len((set(sent) & in_stream) - delivered)
        figures = {
            "sent": len(sent),
            "delivered": len(delivered),
            "lost": lost,
            "lost_in_stream": lost_by_stream,
            "lost_by_pushfeed": lost_by_pushfeed,
            "put_failures": failures,
            "produced_per_s": round(len(sent) / produced_s, 1),
            "batcher_records_per_s": round(summary["records_in"] / max(summary["elapsed_s"], 1e-9), 1),
            "lag_p50_s": round(percentile(lags, 50), 2),
            "lag_p99_s": round(percentile(lags, 99), 2),
            "lag_to_loaded_p50_s": round(percentile(load_lags, 50), 3),
            "lag_to_loaded_p99_s": round(percentile(load_lags, 99), 3),
            "batches": summary["batches"],
            "batch_item_failures": summary["batch_item_failures"],
            "objects": summary["objects_seen"],
            "load_failures": summary["load_failures"],
            "get_records_errors": summary.get("get_records_errors", 0),
            "rate_target": args.rate,
            "duration_s": args.duration,
        }
        print(f"sent {figures['sent']:,} events in {produced_s:.0f} s ({figures['produced_per_s']:,.0f}/s produced, target {args.rate:,.0f}/s); "
              f"delivered {figures['delivered']:,}, lost {lost:,} ({lost_by_stream:,} never held by the stream, {lost_by_pushfeed:,} by pushfeed); batcher {figures['batcher_records_per_s']:,.0f} records/s; "
              f"lag put → object in S3 p50 {figures['lag_p50_s']} s, p99 {figures['lag_p99_s']} s (S3 times have 1 s resolution), "
              f"put → loaded p50 {figures['lag_to_loaded_p50_s']} s, p99 {figures['lag_to_loaded_p99_s']} s; "
              f"{figures['batches']} batches, {figures['objects']} objects, {failures} put failures, {summary['load_failures']} load failures")
        if locust.returncode not in (0, 1):
            print(locust.stderr[-2000:], file=sys.stderr)
        if args.json:
            print(json.dumps(figures))
        return 0 if lost_by_pushfeed == 0 and len(sent) > 0 and (lost == 0 or args.endpoint == "") else 2
    finally:
        if stack:
            stack.terminate()


if __name__ == "__main__":
    sys.exit(main())
