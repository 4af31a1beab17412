"""The load test driver behind `locust/run` (see there)."""

from __future__ import annotations

import argparse
import json
import math
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
    ap.add_argument("--users", type=int, default=4, help="Locust users (connections) per producer")
    ap.add_argument("--producers", type=int, default=2, help="Locust processes sharing the rate")
    ap.add_argument("--env", default="load", help="pushfeed environment name")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    ap.add_argument("--burst-rate", type=float, default=0.0, help="events per second during a burst (e.g. 5x --rate); 0: none")
    ap.add_argument("--burst-at", type=float, default=-1, help="seconds after the start the burst begins (default: the middle)")
    ap.add_argument("--burst-seconds", type=float, default=60.0, help="how long the burst lasts")
    ap.add_argument("--kinesis", choices=["standin", "moto"], default="standin",
                    help="the local stack's Kinesis: locust/kinesis_standin.py (default; takes the rate, models the shard quotas) or moto's")
    ap.add_argument("--shards", type=int, default=0,
                    help="stream shards (default: the peak rate at 80%% of 1,000 records/s per shard, as Terraform sizes it; at least 4)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pushfeed-load-"))
    pushfeed = str(Path(os.environ["PUSHFEED_BIN_DIR"]) / "pushfeed")
    stack = kinesis_stack = None
    endpoint = args.endpoint
    kinesis_endpoint = endpoint
    peak = max(args.rate, args.burst_rate)
    shards = args.shards or max(4, math.ceil(peak * 1.25 / 1000))
    burst_at = args.burst_at if args.burst_at >= 0 else max(0.0, (args.duration - args.burst_seconds) / 2)
    if not endpoint:
        port = free_port()
        stack = subprocess.Popen([sys.executable, str(ROOT / "locust" / "local_stack.py"), str(port)], stdout=subprocess.PIPE,
                                 stderr=open(work / "local_stack.log", "wb"))
        if stack.stdout.readline().strip() != b"ready":
            print("the local stack did not start", file=sys.stderr)
            return 1
        endpoint = kinesis_endpoint = f"http://127.0.0.1:{port}"
        if args.kinesis == "standin":
            kport = free_port()
            kinesis_stack = subprocess.Popen([sys.executable, str(ROOT / "locust" / "kinesis_standin.py"), str(kport)],
                                             stdout=subprocess.PIPE, stderr=open(work / "kinesis_standin.log", "wb"))
            if kinesis_stack.stdout.readline().strip() != b"ready":
                print("the Kinesis stand-in did not start", file=sys.stderr)
                return 1
            kinesis_endpoint = f"http://127.0.0.1:{kport}"
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_KINESIS": kinesis_endpoint, "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
           "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"), "AWS_REGION": os.environ.get("AWS_REGION", "eu-west-2"),
           "RUST_LOG": "error"}
    try:
        subprocess.run([pushfeed, "bootstrap", "--env", args.env, "--shards", str(shards)], env=env, check=True, stdout=subprocess.DEVNULL)
        drive = subprocess.Popen([pushfeed, "drive", "--env", args.env, "--starting-position", "latest", "--json", "--idle-exit", "15",
                                  "--window-ms", "1000", "--max-seconds", str(args.duration + 600), "--object-log", str(work / "objects.jsonl"),
                                  "--dlq-file", str(work / "dlq.jsonl")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)  # the driver takes its LATEST iterators before the first put
        started = time.time()
        # Producers: Locust processes, each with its share of the rate (one Python process
        # tops out near 8,000 events/s built, serialised and put on these machines).
        n = max(1, args.producers)
        producers = [subprocess.Popen(
            [str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "locust" / "locustfile.py"), "--headless", "--only-summary",
             "-u", str(args.users), "-r", str(args.users), "--run-time", f"{args.duration}s", "--stop-timeout", "10",
             "--stream", f"pushfeed-{args.env}-vendor", "--rate", str(args.rate / n), "--batch-size", str(args.batch_size),
             "--endpoint-url", kinesis_endpoint, "--sent-log", str(work / f"sent{i}.jsonl"), "--csv", str(work / f"locust{i}"),
             "--burst-rate", str(args.burst_rate / n), "--burst-at", str(burst_at), "--burst-seconds", str(args.burst_seconds)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
        results = [(p, *p.communicate()) for p in producers]
        produced_s = time.time() - started
        out, err = drive.communicate(timeout=args.duration + 900)
        if drive.returncode != 0:
            print(err.decode()[-3000:], file=sys.stderr)
            return 1
        summary = json.loads(out.decode().strip().splitlines()[-1])

        sent = {}
        lines = [line for i in range(n) if (work / f"sent{i}.jsonl").exists() for line in (work / f"sent{i}.jsonl").read_text().splitlines()]
        for line in lines:
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
        for stats in (work / f"locust{i}_stats.csv" for i in range(n)):
            if not stats.exists():
                continue
            rows = stats.read_text().splitlines()
            header = rows[0].split(",")
            for row in rows[1:]:
                cells = row.split(",")
                if cells[header.index("Name")] == "Aggregated":
                    failures += int(cells[header.index("Failure Count")])
        # What the stream itself holds, read back from the start: tells records the stream
        # lost (moto's PutRecords is not safe under concurrent writers) from records
        # pushfeed failed to deliver.
        kinesis = boto3.client("kinesis", endpoint_url=kinesis_endpoint, region_name=env["AWS_REGION"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
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
        # The rate produced in the steady part and in the burst, from when each event was put.
        t0 = started * 1000
        in_burst = sum(1 for t in sent.values() if args.burst_rate > 0 and burst_at * 1000 <= t - t0 < (burst_at + args.burst_seconds) * 1000)
        steady_s = max(1e-9, produced_s - (args.burst_seconds if args.burst_rate > 0 else 0))
        standin = {}
        if kinesis_stack:
            import urllib.request
            standin = json.loads(urllib.request.urlopen(kinesis_endpoint + "/stats").read())
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
            "steady_per_s": round((len(sent) - in_burst) / steady_s, 1),
            "burst_per_s": round(in_burst / args.burst_seconds, 1) if args.burst_rate > 0 else None,
            "burst_target": args.burst_rate or None,
            "shards": shards,
            "kinesis": args.kinesis if not args.endpoint else "endpoint",
            "throttled_puts": standin.get("throttled_puts"),
            "throttled_gets": standin.get("throttled_gets"),
            "rate_target": args.rate,
            "duration_s": args.duration,
        }
        burst = (f"; burst {figures['burst_per_s']:,.0f}/s for {args.burst_seconds:.0f} s (target {args.burst_rate:,.0f}/s)"
                 if args.burst_rate > 0 else "")
        print(f"sent {figures['sent']:,} events in {produced_s:.0f} s to {shards} shards ({figures['steady_per_s']:,.0f}/s steady, target {args.rate:,.0f}/s{burst}; "
              f"{figures['throttled_puts'] or 0:,} puts refused by a shard's quota and retried); "
              f"delivered {figures['delivered']:,}, lost {lost:,} ({lost_by_stream:,} never held by the stream, {lost_by_pushfeed:,} by pushfeed); batcher {figures['batcher_records_per_s']:,.0f} records/s; "
              f"lag put → object in S3 p50 {figures['lag_p50_s']} s, p99 {figures['lag_p99_s']} s (S3 times have 1 s resolution), "
              f"put → loaded p50 {figures['lag_to_loaded_p50_s']} s, p99 {figures['lag_to_loaded_p99_s']} s; "
              f"{figures['batches']} batches, {figures['objects']} objects, {failures} put failures, {summary['load_failures']} load failures")
        for p, _, err in results:
            if p.returncode not in (0, 1):
                print(err[-2000:], file=sys.stderr)
        if args.json:
            print(json.dumps(figures))
        return 0 if lost_by_pushfeed == 0 and len(sent) > 0 and (lost == 0 or args.endpoint == "") else 2
    finally:
        for p in (stack, kinesis_stack):
            if p:
                p.terminate()


if __name__ == "__main__":
    sys.exit(main())
