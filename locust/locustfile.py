"""Locust load test: a vendor writing realistic push feedback records into the Kinesis
stream with PutRecords.

Runs headless against the local stack (`locust/run` starts it) or a real stream:

    locust -f locust/locustfile.py --headless -u 4 -r 4 --run-time 120s \\
        --stream pushfeed-prod-vendor --rate 1750 --batch-size 250 [--endpoint-url URL] \\
        [--burst-rate 8750 --burst-at 300 --burst-seconds 60]

Each event carries `pushfeed_sent_at_ms` (kept in `attributes`) so the end-to-end lag
can be measured, and every event id sent is appended to --sent-log.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid

import boto3
from botocore.config import Config
from locust import User, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--stream", default=os.environ.get("PUSHFEED_STREAM", "pushfeed-local-vendor"), help="Kinesis stream name")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second, all users together")
    parser.add_argument("--batch-size", type=int, default=250, help="records per PutRecords call (max 500)")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL", ""), help="AWS-compatible endpoint (empty: AWS)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "eu-west-2"))
    parser.add_argument("--sent-log", default="", help="append one JSON line per event sent: id and time")
    parser.add_argument("--burst-rate", type=float, default=0.0, help="events per second during the burst (0: no burst)")
    parser.add_argument("--burst-at", type=float, default=0.0, help="seconds after the start the burst begins")
    parser.add_argument("--burst-seconds", type=float, default=60.0, help="how long the burst lasts")


CAMPAIGNS = ["Winter Sale D1", "Back in Stock", "Price Drop Alert", "Abandoned Basket 1h", "Weekend Flash Sale"]
_log_lock = threading.Lock()


def vendor_event(rng: random.Random, now_ms: int) -> dict:
    """A Braze push event in one of the vendor's shapes (nested mostly, some flat)."""
    customer = rng.randrange(1, 200_000)
    kind = rng.choices(["Send", "Open", "Bounce"], weights=[80, 18, 2])[0]
    props = {"app_id": "4c1d2e3f-aaaa-bbbb-cccc-000000000001", "platform": rng.choice(["ios", "android"]),
             "campaign_id": f"camp-{hash(CAMPAIGNS[customer % 5]) % 10_000:04d}", "campaign_name": CAMPAIGNS[customer % 5],
             "dispatch_id": uuid.UUID(int=rng.getrandbits(128)).hex, "pushfeed_sent_at_ms": now_ms}
    if kind == "Open" and rng.random() < 0.2:
        props.update(button_action_type="deep_link", button_string="shop_now")
    user = {"user_id": f"{customer:024x}", "external_user_id": f"cust-{customer:06d}", "timezone": "Europe/London"}
    event_id = str(uuid.UUID(int=rng.getrandbits(128)))
    base = {"event_type": f"users.messages.pushnotification.{kind}", "id": event_id, "time": now_ms // 1000}
    if rng.random() < 0.8:
        return {**base, "user": user, "properties": props}
    return {**base, **user, **props}


class Vendor(User):
    """One vendor connection: PutRecords calls at the share of --rate this user carries."""

    def on_start(self):
        o = self.environment.parsed_options
        self.stream, self.batch = o.stream, max(1, min(500, o.batch_size))
        users = max(1, self.environment.runner.target_user_count or 1) if self.environment.runner else 1
        # No client-side parameter validation: botocore checks every record of every call in
        # Python, which at 8,750 events/s is most of a core (the service validates anyway).
        kw = {"region_name": o.region, "config": Config(parameter_validation=False)}
        if o.endpoint_url:
            kw.update(endpoint_url=o.endpoint_url, aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                      aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
        self.kinesis = boto3.client("kinesis", **kw)
        self.rng = random.Random()
        self.sent_log = open(o.sent_log, "a") if o.sent_log else None
        self.users = users
        self.started = time.time()
        # Batches on a fixed schedule (a slow call is caught up, not lost from the rate): the
        # k-th batch of this user is due when the rate wanted, integrated from the start,
        # reaches it — so the burst starts and ends on time whatever the batch interval.
        self.phase = random.random()
        self.batches = 0

    def due(self, events_per_user: float) -> float:
        """Seconds after the start when all users together should have put this many each."""
        o = self.environment.parsed_options
        total = events_per_user * self.users
        r0, r1, a, d = max(o.rate, 1e-9), o.burst_rate, o.burst_at, o.burst_seconds
        if r1 <= 0 or total <= r0 * a:
            return total / r0
        if total <= r0 * a + r1 * d:
            return a + (total - r0 * a) / r1
        return a + d + (total - r0 * a - r1 * d) / r0

    def wait_time(self):
        self.batches += 1
        return max(0.0, self.started + self.due((self.batches + self.phase) * self.batch) - time.time())

    def on_stop(self):
        if self.sent_log:
            self.sent_log.close()

    @task
    def put_records(self):
        now_ms = int(time.time() * 1000)
        batch = [vendor_event(self.rng, now_ms) for _ in range(self.batch)]
        start = time.perf_counter()
        exc, ok = None, []
        # A producer retries the records Kinesis refused (a shard's write quota:
        # ProvisionedThroughputExceededException per record), with backoff, as the KPL does.
        todo = [(e, json.dumps(e, separators=(",", ":")).encode()) for e in batch]
        try:
            for attempt in range(8):
                resp = self.kinesis.put_records(StreamName=self.stream, Records=[
                    {"Data": data, "PartitionKey": e["id"]} for e, data in todo])
                ok += [e for (e, _), r in zip(todo, resp["Records"]) if "ErrorCode" not in r]
                todo = [(e, data) for (e, data), r in zip(todo, resp["Records"]) if "ErrorCode" in r]
                if not todo:
                    break
                self.environment.events.request.fire(request_type="kinesis", name="throttled records", response_time=0,
                                                     response_length=len(todo), exception=None, context={})
                time.sleep(0.1 * 2**attempt * (0.5 + random.random()))
        except Exception as e:  # reported to Locust as a failure
            exc = e
        if todo and exc is None:
            exc = RuntimeError(f"{len(todo)} records still refused after 8 attempts")
        elapsed_ms = (time.perf_counter() - start) * 1000
        self.environment.events.request.fire(request_type="kinesis", name="PutRecords", response_time=elapsed_ms,
                                             response_length=len(ok), exception=exc, context={})
        if self.sent_log and ok:
            with _log_lock:
                self.sent_log.write("".join(json.dumps({"id": e["id"], "t": now_ms}) + "\n" for e in ok))
                self.sent_log.flush()
