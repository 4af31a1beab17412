"""scripts/bench: see the header of scripts/bench."""

from __future__ import annotations

import argparse
import base64
import collections
import json
import math
import subprocess
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lambda_harness  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_PAYLOAD = 6 * 1024 * 1024
FIREHOSE_UNIT = 5 * 1024  # Firehose bills each record in 5 KB increments
# List prices, US East (N. Virginia), as published by AWS and read on 2026-11-26:
# Lambda duration per GB-second and requests; Firehose Direct PUT ingestion, first 500 TB/month.
PRICES = {"date": "2026-11-26", "region": "us-east-1",
          "lambda_gb_s": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
          "lambda_per_million_requests": 0.20, "firehose_per_gb": 0.029}
BATCHER_MEMORY_GB = 0.5  # terraform batcher_memory_mb default


def feed_records(feed: Path) -> list[bytes]:
    """Every Kinesis record's bytes in a feed file (a line, or a {"kinesis":{"data"}} envelope)."""
    out = []
    for line in feed.read_bytes().split(b"\n"):
        if line:
            out.append(base64.b64decode(json.loads(line)["kinesis"]["data"]) if line.startswith(b'{"kinesis"') else line)
    return out


def payload_from_feed(feed: Path, max_records: int) -> tuple[bytes, int]:
    """A Lambda Kinesis event of the feed's records, up to max_records and 6 MB."""
    return payload_from_records(feed_records(feed), max_records)


def shape(data: bytes) -> str:
    """Which vendor shape a record has (the generator writes them all)."""
    try:
        v = json.loads(data)
    except ValueError:
        lines = [l for l in data.split(b"\n") if l.strip()]
        try:
            first = json.loads(lines[0]) if len(lines) > 1 else None
        except ValueError:
            return "bad"
        return "bad" if first is None else ("airship_ndjson" if "type" in first else "braze_ndjson")
    if not isinstance(v, dict):
        return "other"
    if isinstance(v.get("events"), list):
        return "braze_batch"
    if str(v.get("event_type", "")).startswith("users."):
        return "braze_nested" if isinstance(v.get("properties"), dict) or isinstance(v.get("user"), dict) else "braze_flat"
    return "airship" if "type" in v else "other"


def with_large_properties(data: bytes, i: int) -> bytes:
    """A Braze nested record whose properties carry ~2 KB more (a campaign's custom
    key-value pairs): the decoder must copy them into `attributes` untouched."""
    v = json.loads(data)
    props = v.setdefault("properties", {})
    for k in range(24):
        props[f"custom_{k:02d}"] = f"value {i}-{k} " + "x" * 60
    props["nested_extras"] = {"tags": [f"t{k}" for k in range(20)], "score": i % 97 / 7, "ok": i % 2 == 0, "none": None}
    return json.dumps(v, separators=(",", ":")).encode()


def generate(pushfeed: str, path: Path, events: int, seed: int, bad_rate: float) -> Path:
    """A feed from `pushfeed generate`."""
    subprocess.run([pushfeed, "generate", "--events", str(events), "--seed", str(seed), "--bad-rate", str(bad_rate),
                    "--output", str(path)], check=True, capture_output=True)
    return path


def shape_mixes(mix_feed: Path) -> dict[str, list[bytes]]:
    """A feed's records by shape, one mix per shape the bench times (the nested records
    with large properties added)."""
    by_shape = collections.defaultdict(list)
    for data in feed_records(mix_feed):
        by_shape[shape(data)].append(data)
    return {
        "braze_nested_large": [with_large_properties(d, i) for i, d in enumerate(by_shape["braze_nested"])],
        "braze_batch": by_shape["braze_batch"],
        "braze_flat": by_shape["braze_flat"],
        "airship_ndjson": by_shape["airship_ndjson"],
    }


def payload_from_records(records: list[bytes], max_records: int) -> tuple[bytes, int]:
    """A Lambda Kinesis event of these records (cycled if too few), up to max_records and 6 MB."""
    parts, size, n = [], 12, 0
    for i in range(max_records):
        if not records:
            break
        data = records[i % len(records)]
        seq = f"49650000000000000000000000000000000000000000{n:012d}"
        rec = json.dumps({"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": f"pk-{n}", "sequenceNumber": seq,
                                      "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": 1767229200.5},
                          "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000003:{seq}",
                          "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/batcher",
                          "awsRegion": "eu-west-2", "eventSourceARN": "arn:aws:kinesis:eu-west-2:123456789012:stream/pushfeed-prod-vendor"},
                         separators=(",", ":")).encode()
        if size + len(rec) + 1 > LAMBDA_PAYLOAD:
            break
        parts.append(rec)
        size += len(rec) + 1
        n += 1
    return b'{"Records":[' + b",".join(parts) + b"]}", n


def canonical_lines(path: Path) -> collections.Counter:
    """Every line produced, comparable across implementations: data lines whole; a
    quarantine row by the record it quarantines (its reason and detail are worded by the
    Rust decoder; the Python peers build the same row with their own words)."""
    out = collections.Counter()
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["dest"] == "quarantine":
            out[("quarantine", rec["line"]["source_sequence_number"])] = 1
        else:
            out[(rec["dest"], json.dumps(rec["line"], sort_keys=True))] += 1
    return out


def run_json(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def floor_of(runs: list[tuple[str, list[str]]]) -> dict:
    """The parse floor from each of its builds (label, command), run one after the other:
    the faster one's figures (the floor is the least time the work takes, so each build's
    fastest run counts), and which build that was."""
    results = [dict(run_json(cmd), build=label) for label, cmd in runs]
    best = min(results, key=lambda r: r["floor_ms"])
    return dict(best, floor_min_ms=min(r["floor_min_ms"] for r in results),
                pushfeed_json_ms=min(r["pushfeed_json_ms"] for r in results))


def billed(sizes: list[int]) -> int:
    return sum(max(1, math.ceil(s / FIREHOSE_UNIT)) * FIREHOSE_UNIT for s in sizes)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--floor-bin", required=True, help="crates/json/examples/floor.rs, built --release")
    ap.add_argument("--floor-bin-pgo", help="the same, built profile-guided (scripts/pgo floor): both builds are run "
                                            "and the faster one is the floor")
    ap.add_argument("--quick", action="store_true", help="small batches and few runs (CI)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    floor_bins = [("plain", args.floor_bin)] + ([("pgo", args.floor_bin_pgo)] if args.floor_bin_pgo else [])
    bins = Path(args.bin_dir)
    pushfeed = str(bins / "pushfeed")
    work = Path(tempfile.mkdtemp(prefix="pushfeed-bench-"))
    runs = 3 if args.quick else 15
    rounds = 1 if args.quick else 3
    # 15 pairs (9 until session 18): on a shared machine a single pair ran anywhere from
    # 0.6x to 2.6x; the median of 15 moves less from run to run than that of 9.
    pairs = 1 if args.quick else 15
    catalogue = work / "catalogue.json"
    catalogue.write_text(subprocess.run([pushfeed, "catalogue", "--json"], check=True, capture_output=True, text=True).stdout)
    feed = generate(pushfeed, work / "feed.jsonl", 9000, 3, 0)

    def measure(name: str, payload: bytes, n: int) -> dict | None:
        """Rust, both Python peers and the parse floor on one payload; None if outputs differ."""
        path = work / f"{name}.json"
        path.write_bytes(payload)
        res = {"records": n, "bytes": len(payload)}
        # Rounds interleaved (Rust, orjson, powertools, floor; again): on a shared machine
        # whose speed drifts, each ratio is taken within a round — implementations timed
        # seconds apart — and the median of the rounds' ratios reported.
        per = max(1, runs // rounds)
        timed: dict[str, list[dict]] = collections.defaultdict(list)
        for _ in range(rounds):
            timed["rust"].append(run_json([pushfeed, "bench-batch", "--payload", str(path), "--runs", str(per), "--out", str(work / f"{name}.rust.jsonl")]))
            timed["fast"].append(run_json([sys.executable, str(ROOT / "scripts" / "bench_python.py"), "fast", str(catalogue), str(path), str(per), str(work / f"{name}.fast.jsonl")]))
            timed["powertools"].append(run_json([sys.executable, str(ROOT / "scripts" / "bench_python.py"), "powertools", str(catalogue), str(path), str(per), str(work / f"{name}.powertools.jsonl")]))
            timed["floor"].append(floor_of([(label, [f, str(path), str(per)]) for label, f in floor_bins]))
        # Rust and the floor in pairs, one right after the other (first one, then the
        # other), for the ratio to the floor: in a round the Python peers run between them,
        # seconds during which a shared machine's speed can change by half (one round on
        # 2026-12-04 measured 1.1× and the next 3.5× for the same build); within a pair
        # both are timed within a second of each other.
        for i in range(pairs):
            rust_run = [pushfeed, "bench-batch", "--payload", str(path), "--runs", str(per)]
            floor_runs = [(label, [f, str(path), str(per)]) for label, f in floor_bins]
            if i % 2 == 0:
                a, b = run_json(rust_run), floor_of(floor_runs)
            else:
                a, b = floor_of(floor_runs), run_json(rust_run)
            timed["pair_rust"].append(a if i % 2 == 0 else b)
            timed["pair_floor"].append(b if i % 2 == 0 else a)

        def merged(impl: str, key: str = "ms_per_batch") -> dict:
            rs = timed[impl]
            out = dict(rs[-1])
            for k in (key, "ms_min", "sonic_rs_ms", "simd_json_ms", "pushfeed_json_ms"):
                if k in out:
                    out[k] = statistics.median(r[k] for r in rs)
            if "peak_rss_mib" in out:
                out["peak_rss_mib"] = max(r["peak_rss_mib"] for r in rs)
            return out

        def ratios(a: str, ka: str, b: str, kb: str) -> list[float]:
            return [round(x[ka] / y[kb], 2) for x, y in zip(timed[a], timed[b])]

        vs_orjson = ratios("fast", "ms_per_batch", "rust", "ms_per_batch")
        vs_floor = ratios("pair_rust", "ms_per_batch", "pair_floor", "floor_ms")
        # Beside the median of the pairs (the target's measure): Rust's fastest run over all
        # pairs against the floor's fastest. A shared machine's slow spells only ever add
        # time, so the fastest runs are the least disturbed; information, not the target.
        best_to_floor = round(min(r["ms_min"] for r in timed["pair_rust"])
                              / min(f["floor_min_ms"] for f in timed["pair_floor"]), 2)
        # pushfeed's own reader doing the floor's work: how much of the distance to the
        # floor is reading, how much the canonical lines.
        reader_vs_floor = ratios("pair_floor", "pushfeed_json_ms", "pair_floor", "floor_ms")
        rust, fast, typical, floor = merged("rust"), merged("fast"), merged("powertools"), merged("floor", "floor_ms")
        expected = canonical_lines(work / f"{name}.rust.jsonl")
        for impl in ("fast", "powertools"):
            got = canonical_lines(work / f"{name}.{impl}.jsonl")
            if got != expected:
                missing = list((expected - got).elements())[:2]
                extra = list((got - expected).elements())[:2]
                print(f"OUTPUT DIFFERS: Python {impl} vs Rust on {name}\n  only Rust: {missing}\n  only Python: {extra}", file=sys.stderr)
                return None
        res.update(rust=rust, fast=fast, powertools=typical, events=rust["events"], floor=floor, lines=len(expected),
                   floor_ms=floor["floor_ms"], ratio=round(statistics.median(vs_orjson), 2),
                   ratio_powertools=round(statistics.median(ratios("powertools", "ms_per_batch", "rust", "ms_per_batch")), 2),
                   ratio_to_floor=round(statistics.median(vs_floor), 2), best_to_floor=best_to_floor,
                   ratio_rounds=vs_orjson, ratio_to_floor_rounds=vs_floor,
                   reader_ms=floor["pushfeed_json_ms"], reader_to_floor=round(statistics.median(reader_vs_floor), 2),
                   floor_builds=dict(collections.Counter(f["build"] for f in timed["pair_floor"])))
        return res

    def spread(rs: list[float]) -> str:
        return f"{min(rs):.1f}–{max(rs):.1f}×" if len(rs) > 1 else f"{rs[0]:.1f}×"

    def report_rows(name: str, res: dict) -> None:
        mb = res["bytes"] / 1e6
        rust, fast, typical, floor = res["rust"], res["fast"], res["powertools"], res["floor"]
        for label, r in (("Rust (pushfeed)", rust), ("Python, orjson", fast), ("Python, powertools", typical)):
            rows.append(f"  {name:<18} {label:<20} {r['ms_per_batch']:9.2f} ms/batch {res['events'] / r['ms_per_batch'] * 1000:12,.0f} events/s "
                        f"{mb / r['ms_per_batch'] * 1000:8.1f} MB/s  peak {r['peak_rss_mib']:6.1f} MiB")
        rows.append(f"  {name:<18} parse floor          {floor['floor_ms']:9.2f} ms/batch (sonic-rs {floor['sonic_rs_ms']:.2f}, simd-json {floor['simd_json_ms']:.2f}: "
                    f"event + base64 + every document validated, nothing produced; "
                    f"faster build in the pairs: {', '.join(f'{k} {v}' for k, v in sorted(res['floor_builds'].items()))})")
        rows.append(f"  {name:<18} pushfeed's reader    {res['reader_ms']:9.2f} ms/batch (the floor's work, every document read onto pushfeed's tape: "
                    f"{res['reader_to_floor']:.2f}× the floor; the rest of Rust's time is the canonical lines)")
        rows.append(f"  {name:<18} orjson ÷ Rust = {res['ratio']:.1f}×, powertools ÷ Rust = {res['ratio_powertools']:.1f}×, "
                    f"Rust ÷ floor = {res['ratio_to_floor']:.2f}× (rounds: {spread(res['ratio_rounds'])}; pairs: {spread(res['ratio_to_floor_rounds'])}; fastest runs: {res['best_to_floor']:.2f}×); outputs equal ({res['lines']:,} lines, {res['records']:,} records, {mb:.1f} MB)")

    results, rows = {}, []
    sizes = [("1000_records", 200 if args.quick else 1000), ("full_6mb", 300 if args.quick else 10_000)]
    for name, limit in sizes:
        payload, n = payload_from_feed(feed, limit)
        res = measure(name, payload, n)
        if res is None:
            return 1
        results[name] = res
        report_rows(name, res)

    # Full payloads of one shape each (the same generator, records picked by shape), and a
    # mix with 1 % bad records: the batcher's speed must hold on every feed, not one mix.
    limit = 300 if args.quick else 10_000
    mix_feed = generate(pushfeed, work / "mix-feed.jsonl", 6000 if args.quick else 150_000, 5, 0)
    bad_feed = generate(pushfeed, work / "bad-feed.jsonl", 3000 if args.quick else 30_000, 7, 0.01)
    mix_records = dict(shape_mixes(mix_feed), bad_1pct=feed_records(bad_feed))
    mixes = {"generated_mix": results["full_6mb"]}
    for name, records in mix_records.items():
        payload, n = payload_from_records(records, limit)
        res = measure(name, payload, n)
        if res is None:
            return 1
        mixes[name] = res
        report_rows(name, res)
    worst_ratio = min(m["ratio"] for m in mixes.values())
    worst_ratio_to_floor = max(m["ratio_to_floor"] for m in mixes.values())
    worst_best_to_floor = max(m["best_to_floor"] for m in mixes.values())
    rows.append(f"  worst of {len(mixes)} full payloads: orjson ÷ Rust = {worst_ratio:.1f}× (target ≥ 10×), "
                f"Rust ÷ floor = {worst_ratio_to_floor:.2f}× (target ≤ 1.5×; fastest runs: {worst_best_to_floor:.2f}×)")

    # The real binaries under a local Runtime API: cold start and the full batch.
    one, _ = payload_from_feed(feed, 1)
    full = (work / "full_6mb.json").read_bytes()
    batcher_env = {"PUSHFEED_FIREHOSE_STREAM_PREFIX": "pushfeed-bench-"}
    loader_env = {"PUSHFEED_REDSHIFT_WORKGROUP": "analytics", "PUSHFEED_REDSHIFT_DATABASE": "dev",
                  "PUSHFEED_COPY_ROLE_ARN": "arn:aws:iam::123456789012:role/copy", "PUSHFEED_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-2:123456789012:alerts"}
    s3_event = json.dumps({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-2", "eventTime": "2026-01-01T00:00:00.000Z",
                                        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "x"}, "requestParameters": {"sourceIPAddress": "1.1.1.1"},
                                        "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                                        "bucket": {"name": "pushfeed-prod-data", "ownerIdentity": {"principalId": "x"}, "arn": "arn:aws:s3:::pushfeed-prod-data"},
                                        "object": {"key": "push/send/2026/01/01/00/pushfeed-prod-send-1-2026-01-01-00-00-00-abc.gz", "size": 1000, "eTag": "e", "sequencer": "1"}}}]}).encode()
    cold = {
        "batcher": lambda_harness.invoke(str(bins / "pushfeed-batcher"), one, batcher_env),
        # The same full batch 10 times in one process: warm invocations, and whether memory
        # stays put between them.
        "batcher_full_batch": lambda_harness.invoke(str(bins / "pushfeed-batcher"), full, batcher_env,
                                                    invocations=3 if args.quick else 10),
        "loader": lambda_harness.invoke(str(bins / "pushfeed-loader"), s3_event, loader_env),
    }
    for k, v in cold.items():
        if v["error"] or v["ms"] is None:
            print(f"the {k} binary failed under the local Runtime API: {v['error']}", file=sys.stderr)
            return 1
    if cold["batcher_full_batch"]["response"].get("batchItemFailures"):
        print("the batcher reported failures on the full batch", file=sys.stderr)
        return 1
    zips = {}
    for fn in ("batcher", "loader"):
        z = ROOT / "dist" / f"pushfeed-{fn}.zip"
        if z.exists():
            zips[fn] = z.stat().st_size
        else:  # not packaged yet: the size the zip would have
            zpath = work / f"{fn}.zip"
            with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
                zf.write(bins / f"pushfeed-{fn}", "bootstrap")
            zips[fn] = zpath.stat().st_size

    full_res = results["full_6mb"]
    rust_sizes = full_res["rust"]["firehose_record_sizes"]
    lines = [json.loads(l)["line"] for l in (work / "full_6mb.rust.jsonl").read_text().splitlines()]
    per_line = [len(json.dumps(l, separators=(",", ":")).encode()) + 1 for l in lines]
    billed_packed = billed(rust_sizes) / full_res["events"]
    # The audit trail: one record per invocation (a line per table and hour), billed as 5 KB.
    audit_billed = {name: billed(r["rust"]["audit_record_sizes"]) / r["events"] for name, r in results.items()}
    billed_single = billed(per_line) / full_res["events"]
    ms_per_event = full_res["rust"]["ms_per_batch"] / full_res["events"]
    gb_s_per_million = ms_per_event / 1000 * 1e6 * BATCHER_MEMORY_GB
    cost = {
        "lambda_gb_s_per_million_events": round(gb_s_per_million, 3),
        # One invocation per full batch: 1e6 / events-per-batch requests per million events.
        "lambda_usd_per_million_events": {a: round(gb_s_per_million * p + PRICES["lambda_per_million_requests"] / full_res["events"], 6)
                                          for a, p in PRICES["lambda_gb_s"].items()},
        "firehose_billed_gb_per_million_events": {"packed": round(billed_packed * 1e6 / 1e9, 3), "one_per_record": round(billed_single * 1e6 / 1e9, 3)},
        "firehose_usd_per_million_events": {"packed": round(billed_packed * 1e6 / 1e9 * PRICES["firehose_per_gb"], 4),
                                            "one_per_record": round(billed_single * 1e6 / 1e9 * PRICES["firehose_per_gb"], 4)},
        "audit_billed_kb_per_million_events": {name: round(b * 1e6 / 1e3, 1) for name, b in audit_billed.items()},
        "audit_usd_per_million_events": {name: round(b * 1e6 / 1e9 * PRICES["firehose_per_gb"], 6) for name, b in audit_billed.items()},
        "prices": PRICES,
    }

    print(f"\npushfeed performance — batches from a generated feed: {rounds} interleaved round(s) of {max(1, runs // rounds)} runs "
          f"per implementation (median; ratios: the median of the rounds' ratios; to the floor: of {pairs} back-to-back pairs of Rust and the floor)")
    print("\n".join(rows))
    print("\n  Lambda binaries under a local Runtime API (process start → first invocation completed):")
    print(f"    batcher: {cold['batcher']['ms']} ms cold start (1 record), peak {cold['batcher']['peak_rss_mib']} MiB; "
          f"full batch ({full_res['records']:,} records) {cold['batcher_full_batch']['ms']} ms")
    warm = sorted(cold["batcher_full_batch"]["warm_ms"])
    print(f"    batcher, the full batch again and again in the same process: {warm[len(warm) // 2]} ms per warm invocation "
          f"(median of {len(warm)}; PutRecordBatch to the harness included), peak {cold['batcher_full_batch']['peak_rss_mib']} MiB after all "
          f"{len(warm) + 1}")
    print(f"    loader:  {cold['loader']['ms']} ms cold start (one object), peak {cold['loader']['peak_rss_mib']} MiB")
    print(f"    zips: batcher {zips['batcher']:,} bytes, loader {zips['loader']:,} bytes")
    print(f"\n  Firehose billed bytes per event: packed {billed_packed:,.0f}, one event per record {billed_single:,.0f} "
          f"({billed_single / billed_packed:.0f}× more)")
    print(f"  Cost per million events ({PRICES['region']} list prices read {PRICES['date']}; batcher at {BATCHER_MEMORY_GB * 1024:.0f} MB, compute only):")
    print(f"    Lambda: {cost['lambda_gb_s_per_million_events']} GB-s → ${cost['lambda_usd_per_million_events']['arm64']:.6f} arm64, "
          f"${cost['lambda_usd_per_million_events']['x86_64']:.6f} x86_64 (requests included; network waits not included)")
    print(f"    Firehose: {cost['firehose_billed_gb_per_million_events']['packed']} GB billed → ${cost['firehose_usd_per_million_events']['packed']} packed; "
          f"{cost['firehose_billed_gb_per_million_events']['one_per_record']} GB → ${cost['firehose_usd_per_million_events']['one_per_record']} one per record")
    for name, r in results.items():
        print(f"    audit trail ({name}: {len(r['rust']['audit_record_sizes'])} audit record(s) of "
              f"{sum(r['rust']['audit_record_sizes']):,} bytes per invocation of {r['events']:,} events): "
              f"{cost['audit_billed_kb_per_million_events'][name]:,} KB billed → ${cost['audit_usd_per_million_events'][name]} per million events "
              f"({billed(r['rust']['audit_record_sizes']) / max(1, billed(r['rust']['firehose_record_sizes'])) * 100:.2f}% of the data's Firehose bill)")
    if args.json:
        print(json.dumps({
            "batch_records": full_res["records"], "batch_bytes": full_res["bytes"], "batch_events": full_res["events"],
            "rust_ms_per_batch": round(full_res["rust"]["ms_per_batch"], 3),
            "python_ms_per_batch": round(full_res["fast"]["ms_per_batch"], 3),
            "python_powertools_ms_per_batch": round(full_res["powertools"]["ms_per_batch"], 3),
            "ratio": full_res["ratio"],
            "ratio_powertools": full_res["ratio_powertools"],
            "floor_ms": full_res["floor_ms"],
            "ratio_to_floor": full_res["ratio_to_floor"],
            "rust_peak_rss_mib": cold["batcher_full_batch"]["peak_rss_mib"],
            "batcher_warm_invocation_ms": warm[len(warm) // 2],
            "rust_in_process_peak_rss_mib": full_res["rust"]["peak_rss_mib"],
            "python_peak_rss_mib": full_res["fast"]["peak_rss_mib"],
            "python_powertools_peak_rss_mib": full_res["powertools"]["peak_rss_mib"],
            "batch_1000": {k: round(results["1000_records"][k]["ms_per_batch"], 3) for k in ("rust", "fast", "powertools")},
            "cold_start_ms": {"batcher": cold["batcher"]["ms"], "loader": cold["loader"]["ms"]},
            "zip_bytes": zips,
            "firehose_billed_bytes_per_event": {"packed": round(billed_packed, 1), "one_per_record": round(billed_single, 1)},
            "cost_per_million_events": cost,
            "outputs_equal": True,
            "mixes": {name: {"records": m["records"], "bytes": m["bytes"], "events": m["events"],
                             "rust_ms_per_batch": round(m["rust"]["ms_per_batch"], 3),
                             "python_ms_per_batch": round(m["fast"]["ms_per_batch"], 3),
                             "python_powertools_ms_per_batch": round(m["powertools"]["ms_per_batch"], 3),
                             "ratio": m["ratio"], "floor_ms": m["floor_ms"], "ratio_to_floor": m["ratio_to_floor"],
                             "ratio_rounds": m["ratio_rounds"], "ratio_to_floor_rounds": m["ratio_to_floor_rounds"],
                             "best_to_floor": m["best_to_floor"], "floor_builds": m["floor_builds"],
                             "reader_ms": m["reader_ms"], "reader_to_floor": m["reader_to_floor"],
                             "rust_peak_rss_mib": m["rust"]["peak_rss_mib"]}
                      for name, m in mixes.items()},
            "worst_ratio": worst_ratio,
            "worst_ratio_to_floor": worst_ratio_to_floor,
            "worst_best_to_floor": worst_best_to_floor,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
