"""The batcher's work in Python, for scripts/bench: the same input and the same output as
pushfeed's Rust batcher (payload → records → canonical events → packed Firehose records),
written twice:

* ``powertools``: as a typical team would for the Python stack — aws-lambda-powertools'
  BatchProcessor and Logger, the standard json module;
* ``fast``: as fast as a Python expert can make it — orjson, no per-record logging, no
  needless copies.

It covers the vendor shapes `pushfeed generate` writes (Braze nested, flat and batches,
Airship, NDJSON records); columns come from `pushfeed catalogue --json`.

    python scripts/bench_python.py IMPL CATALOGUE.json PAYLOAD.json RUNS [OUT.jsonl]
prints one JSON line: ms_per_batch (median), events, peak_rss_mib, firehose_record_sizes.
"""

from __future__ import annotations

import base64
import json
import resource
import statistics
import sys
import time
from datetime import datetime, timezone

MAX_RECORD = 1_024_000
MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 4_000_000
RESERVED = {"event_id", "event_type", "vendor", "vendor_event_type", "source_shard_id", "source_sequence_number"}
BRAZE = {
    "users.messages.pushnotification.Send": "send", "users.messages.pushnotification.Open": "open",
    "users.messages.pushnotification.Bounce": "bounce", "users.messages.pushnotification.Abort": "abort",
    "users.messages.pushnotification.Retry": "retry", "users.messages.pushnotification.InfluencedOpen": "influenced_open",
    "users.messages.pushnotification.IosForeground": "ios_foreground",
    "users.behaviors.pushnotification.TokenStateChange": "token_state_change",
    "users.behaviors.Uninstall": "uninstall", "users.campaigns.EnrollInControl": "control",
}
AIRSHIP = {"SEND": "send", "OPEN": "open", "WEB_CLICK": "open", "SEND_REJECTED": "bounce", "SEND_ABORTED": "abort",
           "UNINSTALL": "uninstall", "CONTROL": "control"}
CHANNELS = {"ios_channel": "ios", "android_channel": "android", "amazon_channel": "amazon", "web_channel": "web",
            "sms_channel": "sms", "email_channel": "email", "open_channel": "open"}
NAMED_USER_KEYS = ("named_user_id", "named_user")
DEVICE_ATTRIBUTES = {"iana_timezone": "timezone", "device_model": "device_model", "device_os": "os_version"}
PUSH_IDS = {"push_id": "dispatch_id", "group_id": "campaign_id", "variant_id": "message_variation_id"}


def load_catalogue(path: str) -> dict[str, list[str]]:
    """Destination → its text columns a vendor field may fill, in catalogue order."""
    cat = json.load(open(path))
    return {d["name"]: [c["name"] for c in d["columns"] if isinstance(c["kind"], dict) and "text" in c["kind"] and c["name"] not in RESERVED]
            for d in cat["destinations"] if d["kind"] != "quarantine"}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


class Canonical:
    def __init__(self, columns: dict[str, list[str]], loads):
        self.columns = {d: set(c) for d, c in columns.items()}
        self.order = columns
        self.loads = loads

    def column(self, dest, cols, column, v) -> bool:
        """Whether `v` is settled by `column` (taken, or null leaving it null)."""
        if column in self.columns[dest]:
            if v is None:
                return True
            if isinstance(v, bool):
                text = "true" if v else "false"
            elif isinstance(v, (str, int, float)):
                text = v if isinstance(v, str) else json.dumps(v)
            else:
                text = None
            if text is not None and column not in cols:
                cols[column] = text
                return True
        return False

    def field(self, dest, cols, attrs, column, key, v):
        if not self.column(dest, cols, column, v):
            attrs[key] = v

    def made_field(self, e, dest, cols, attrs, column, obj, key, v):
        """A mapped nested field: its column, else attributes under the made name (the
        clash check only then, as the Rust decoder does it)."""
        if not self.column(dest, cols, column, v):
            attrs[made(e, attrs, obj, key)] = v

    def named_user(self, e, dest, cols, attrs, obj, key, v):
        """Both user columns; kept once in attributes when either cannot take it."""
        external = self.column(dest, cols, "external_user_id", v)
        user = self.column(dest, cols, "user_id", v)
        if not (external and user):
            attrs[made(e, attrs, obj, key)] = v

    def event(self, e: dict, shard: str, seq: str, received_ms: int):
        if "event_type" in e:
            return self.braze(e, shard, seq, received_ms)
        return self.airship(e, shard, seq, received_ms)

    def line(self, dest, event_id, event_type, vendor, vendor_type, occurred_ms, received_ms, cols, attrs, shard, seq):
        out = {"event_id": event_id, "event_type": event_type, "vendor": vendor, "vendor_event_type": vendor_type,
               "occurred_at": iso(occurred_ms), "received_at": iso(received_ms)}
        for c in self.order[dest]:
            if c in cols:
                out[c] = cols[c]
        out["source_shard_id"] = shard
        out["source_sequence_number"] = seq
        out["attributes"] = attrs
        return dest, out

    def braze(self, e, shard, seq, received_ms):
        user, props = e.get("user"), e.get("properties")
        flat = [(k, v) for k, v in e.items() if k not in ("id", "event_type", "time")
                and not (k == "user" and isinstance(user, dict)) and not (k == "properties" and isinstance(props, dict))]
        seen = {k for k, _ in flat}
        flat = [(k, avro_unwrap(v)) for k, v in flat]
        for outer, inner in (("user", user), ("properties", props)):
            if isinstance(inner, dict):
                for k, v in inner.items():
                    if k in e or k in seen:
                        name = f"{outer}.{k}"
                        while name in e or name in seen:  # prefixed again while taken
                            name = f"{outer}.{name}"
                        flat.append((name, avro_unwrap(v)))
                    else:
                        flat.append((k, avro_unwrap(v)))
                    seen.add(flat[-1][0])
        canonical = BRAZE.get(e["event_type"], "unknown")
        if canonical == "open" and dict(flat).get("button_action_type") in ("uri", "deep_link"):
            canonical = "click"
        dest = "unknown_type" if canonical == "unknown" else canonical
        cols, attrs = {}, {}
        for k, v in flat:
            if k == "message_extras":
                try:
                    attrs[k] = self.loads(v) if isinstance(v, str) else v
                except ValueError:
                    attrs[k] = v
                continue
            self.field(dest, cols, attrs, k, k, v)
        return self.line(dest, e["id"], canonical, "braze", e["event_type"], braze_ms(e["time"]), received_ms, cols, attrs, shard, seq)

    def airship(self, e, shard, seq, received_ms):
        occurred = int(datetime.fromisoformat(e["occurred"].replace("Z", "+00:00")).timestamp() * 1000)
        if not MIN_MS <= occurred < MAX_MS:
            raise ValueError(f"occurred {e['occurred']!r} is out of range")
        canonical = AIRSHIP.get(e["type"], "unknown")
        body = e.get("body")
        if e["type"] == "OPEN" and not (isinstance(body, dict) and isinstance(body.get("triggering_push"), dict)):
            canonical = "app_open"
        dest = "unknown_type" if canonical == "unknown" else canonical
        device = e.get("device")
        device_named = isinstance(device, dict) and any(isinstance(device.get(n), str) for n in NAMED_USER_KEYS)
        cols, attrs = {}, {}
        for k, v in e.items():
            if k in ("id", "type", "occurred"):
                continue
            if k == "device" and isinstance(v, dict):
                rest = {}
                keyed = next(((dk, dv) for dk, dv in v.items() if dk in CHANNELS and isinstance(dv, str)), None)
                id_key = "channel" if isinstance(v.get("channel"), str) else (keyed[0] if keyed else None)
                id_val = v.get(id_key) if id_key else None
                from_type = isinstance(v.get("device_type"), str)
                platform = v["device_type"].lower() if from_type else (CHANNELS[keyed[0]] if keyed else None)
                if id_key:
                    self.made_field(e, dest, cols, attrs, "device_id", "device", f"device.{id_key}", id_val)
                if platform is not None:
                    self.made_field(e, dest, cols, attrs, "platform", "device", "device.platform", platform)
                for dk, dv in v.items():
                    if dk == id_key or (dk == "device_type" and from_type):
                        continue
                    if dk in CHANNELS and isinstance(dv, str) and dv == id_val:
                        continue
                    if dk in NAMED_USER_KEYS and isinstance(dv, str):
                        self.named_user(e, dest, cols, attrs, "device", f"device.{dk}", dv)
                    elif dk == "attributes" and isinstance(dv, dict):
                        left, taken = {}, False
                        for ak, av in dv.items():
                            c = DEVICE_ATTRIBUTES.get(ak)
                            if c and isinstance(av, str) and c in self.columns[dest] and c not in cols:
                                cols[c] = av
                                taken = True
                            else:
                                left[ak] = av
                        if not taken:
                            rest[dk] = dv
                        elif left:
                            rest[dk] = left
                    else:
                        rest[dk] = dv
                if rest:
                    attrs["device"] = rest
            elif k == "user" and isinstance(v, dict) and not device_named:
                rest = {}
                for uk, uv in v.items():
                    if uk == "named_user_id" and isinstance(uv, str):
                        self.named_user(e, dest, cols, attrs, "user", "user.named_user_id", uv)
                    else:
                        rest[uk] = uv
                if rest:
                    attrs["user"] = rest
            elif k == "body" and isinstance(v, dict):
                rest = {}
                for bk, bv in self.push_ids(e, dest, cols, attrs, v, "body.").items():
                    if bk == "reason" and isinstance(bv, str):
                        self.made_field(e, dest, cols, attrs, "abort_type", "body", "body.reason", bv)
                    elif bk == "triggering_push" and isinstance(bv, dict):
                        left = self.push_ids(e, dest, cols, attrs, bv, "body.triggering_push.")
                        if left:
                            rest[bk] = left
                    else:
                        rest[bk] = bv
                if rest:
                    attrs["body"] = rest
            else:
                self.field(dest, cols, attrs, k, k, v)
        if "user_id" not in cols and "device_id" in cols:
            cols["user_id"] = cols["device_id"]
        return self.line(dest, e["id"], canonical, "airship", e["type"], occurred, received_ms, cols, attrs, shard, seq)

    def push_ids(self, e, dest, cols, attrs, push, prefix):
        left = {}
        for k, v in push.items():
            if k in PUSH_IDS and (isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool))):
                self.made_field(e, dest, cols, attrs, PUSH_IDS[k], "body", f"{prefix}{k}", v)
            else:
                left[k] = v
        return left


def made(e: dict, attrs: dict, obj: str, name: str) -> str:
    """A name made from a nested member (`device.<key>`, ...), prefixed with its object's
    name again while a top-level key or an attribute already written has it."""
    while name in e or name in attrs:
        name = f"{obj}.{name}"
    return name


def braze_ms(t) -> int:
    """Braze's time: UNIX seconds (number or numeric text), or ISO-8601 text."""
    if isinstance(t, str):
        try:
            t = float(t)
        except ValueError:
            return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)
    ms = int(round(t * 1000))
    if not MIN_MS <= ms < MAX_MS:
        raise ValueError(f"time {t!r} is out of range")
    return ms


AVRO_UNION_TYPES = {"string", "int", "long", "float", "double", "boolean", "bytes"}


def avro_unwrap(v):
    """The value inside an Avro JSON union ({"string": "x"} -> "x"), else the value."""
    if isinstance(v, dict) and len(v) == 1:
        (k, inner), = v.items()
        if k in AVRO_UNION_TYPES:
            return inner
    return v


# A time outside 2000-01-01 .. 2100-01-01 is not believed (the Rust decoder's bound).
MIN_MS, MAX_MS = 946_684_800_000, 4_102_444_800_000


def quarantine(shard: str, seq: str, received_ms: int, raw: bytes, reason: str, detail: str, position=None):
    """A quarantine row as the batcher writes it (one chunk; raw kept as text, or base64
    when it is not UTF-8). The bad mix compares which records were quarantined, not the
    reason's wording, which is the Rust decoder's own."""
    try:
        text, encoding = raw.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(raw).decode(), "base64"
    return "quarantine", {"event_id": f"q:{shard}:{seq}:{'-' if position is None else position}:0", "reason": reason,
                          "detail": detail, "source_shard_id": shard, "source_sequence_number": seq,
                          "event_position": position, "occurred_at": iso(received_ms), "received_at": iso(received_ms),
                          "raw_encoding": encoding, "raw_size": len(raw), "chunk_index": 0, "chunk_count": 1, "raw": text}


def decode_record(canon, data: bytes, shard: str, seq: str, received: int, loads, dumps):
    """Every (destination, line) of one Kinesis record; what cannot be read, quarantined."""
    if not data.strip():
        return [quarantine(shard, seq, received, data, "empty", "empty record")]
    try:
        events = events_of(data, loads)
    except (ValueError, UnicodeDecodeError) as exc:
        return [quarantine(shard, seq, received, data, "invalid_json", str(exc))]
    out = []
    for i, e in enumerate(events):
        position = i if len(events) > 1 else None
        if not isinstance(e, dict):
            out.append(quarantine(shard, seq, received, dumps(e), "not_an_object", "not a JSON object", position))
            continue
        try:
            dest, line = canon.event(e, shard, seq, received)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            out.append(quarantine(shard, seq, received, dumps(e), "invalid_event", repr(exc), position))
            continue
        out.append((dest, line))
    return out


def events_of(text: bytes, loads) -> list:
    try:
        values = [loads(text)]
    except ValueError:
        values = [loads(line) for line in text.split(b"\n") if line.strip()]
    out = []
    for v in values:
        if isinstance(v, dict) and isinstance(v.get("events"), list) and not ({"event_type", "type", "id"} & v.keys()):
            out.extend(v["events"])
        elif isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


def pack(lines_by_dest: dict[str, list[bytes]]) -> list[tuple[str, list[bytes]]]:
    """Lines → Firehose records (≤ 1,000 KiB) → PutRecordBatch calls (≤ 500, ≤ 4 MB)."""
    calls = []
    for dest, lines in lines_by_dest.items():
        records, current, size = [], [], 0
        for line in lines:
            if size + len(line) > MAX_RECORD and current:
                records.append(b"".join(current))
                current, size = [], 0
            current.append(line)
            size += len(line)
        if current:
            records.append(b"".join(current))
        call, call_bytes = [], 0
        for r in records:
            if call and (len(call) == MAX_CALL_RECORDS or call_bytes + len(r) > MAX_CALL_BYTES):
                calls.append((dest, call))
                call, call_bytes = [], 0
            call.append(r)
            call_bytes += len(r)
        if call:
            calls.append((dest, call))
    return calls


def run_fast(payload: bytes, canon: Canonical):
    import orjson

    event = orjson.loads(payload)
    lines: dict[str, list[bytes]] = {}
    dumps, loads, b64 = orjson.dumps, orjson.loads, base64.b64decode
    for r in event["Records"]:
        k = r["kinesis"]
        shard = r["eventID"].split(":", 1)[0]
        seq = k["sequenceNumber"]
        received = int(k["approximateArrivalTimestamp"] * 1000)
        for dest, line in decode_record(canon, b64(k["data"]), shard, seq, received, loads, dumps):
            lines.setdefault(dest, []).append(dumps(line) + b"\n")
    return pack(lines)


def make_powertools_handler(canon: Canonical):
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    logger = Logger(service="pushfeed-batcher", level="INFO")
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
    lines: dict[str, list[bytes]] = {}

    def record_handler(record):
        data = record.kinesis.data_as_bytes()
        shard = record.event_id.split(":", 1)[0]
        received = int(record.kinesis.approximate_arrival_timestamp * 1000)
        dumps = lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()  # noqa: E731
        for dest, line in decode_record(canon, data, shard, record.kinesis.sequence_number, received, json.loads, dumps):
            logger.debug("routed event", extra={"event_id": line["event_id"], "destination": dest})
            lines.setdefault(dest, []).append((json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode())

    class Context:
        function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "bench", 512, "arn:aws:lambda:eu-west-2:123456789012:function:bench", "req"

        @staticmethod
        def get_remaining_time_in_millis():
            return 60_000

    def handler(payload: bytes):
        lines.clear()
        event = json.loads(payload)
        response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=Context())
        assert not response["batchItemFailures"], response
        return pack(lines)

    return handler


def peak_rss_mib() -> float:
    """This process's own peak (VmHWM). ru_maxrss would not do: on Linux it survives
    execve, so a child reports its parent's peak when its own is lower."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    impl, catalogue, payload_path, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    out_path = sys.argv[5] if len(sys.argv) > 5 else None
    canon = Canonical(load_catalogue(catalogue), json.loads if impl == "powertools" else __import__("orjson").loads)
    payload = open(payload_path, "rb").read()
    work = make_powertools_handler(canon) if impl == "powertools" else (lambda p: run_fast(p, canon))
    times, calls = [], []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        calls = work(payload)
        times.append((time.perf_counter() - start) * 1000)
    records = [r for _, call in calls for r in call]
    if out_path:
        with open(out_path, "w") as f:
            for dest, call in calls:
                for r in call:
                    for line in r.split(b"\n"):
                        if line:
                            f.write('{"dest":' + json.dumps(dest) + ',"line":' + line.decode() + "}\n")
    print(json.dumps({"ms_per_batch": statistics.median(times), "ms_min": min(times), "runs": len(times),
                      "events": sum(r.count(b"\n") for r in records), "firehose_record_sizes": [len(r) for r in records],
                      "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main()
