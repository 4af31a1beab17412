"""A loopback HTTP proxy that injects AWS faults between pushfeed and moto.

Firehose PutRecordBatch calls are, at random: throttled as a whole (HTTP 400
ThrottlingException), refused permanently (InvalidArgumentException: the batcher must not
retry it but report the Kinesis records), or partially failed — the chosen entries are
removed from the request before it is forwarded (so moto never writes them, as Firehose
would not) and reported back as ServiceUnavailableException entries with FailedPutCount.
SQS ReceiveMessage calls (the loader's event source) are, at random, answered 500
InternalError. Everything else passes through. Counts of what was injected are kept in ``proxy.injected``.
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultProxy:
    def __init__(self, upstream: str, seed: int = 7, firehose_throttle: float = 0.15,
                 firehose_permanent: float = 0.05, firehose_entry_failure: float = 0.25,
                 sqs_receive_failure: float = 0.2) -> None:
        self.upstream = urlsplit(upstream)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.rates = dict(firehose_throttle=firehose_throttle, firehose_permanent=firehose_permanent,
                          firehose_entry_failure=firehose_entry_failure, sqs_receive_failure=sqs_receive_failure)
        self.injected: collections.Counter = collections.Counter()
        # Besides the random faults, one of each kind at a fixed call, so every kind is
        # exercised in every run whatever the timing.
        self.calls: collections.Counter = collections.Counter()
        # (The SDK retries a 500 up to three attempts: three in a row reach the driver.)
        self.forced = {"firehose_permanent": {3}, "sqs_receive_failure": {2, 3, 4}, "firehose_entry_failure": {5}}
        # PutRecordBatch calls (by number) that are accepted and never answered.
        self.stall_firehose_calls: set[int] = set()
        self.stall_seconds = 20.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FaultProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def roll(self, what: str) -> bool:
        with self.lock:
            self.calls[what] += 1
            if self.calls[what] in self.forced.get(what, ()):
                return True
            return self.rng.random() < self.rates[what]

    def _forward(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "connection")}
        headers["Content-Length"] = str(len(body))
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        conn.close()
        return resp.status, out_headers, data

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, headers: list, body: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: str, message: str, json_error: bool = True) -> None:
                if json_error:
                    body = json.dumps({"__type": code, "message": message}).encode()
                    self._reply(status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body)
                else:
                    body = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                    self._reply(status, [("Content-Type", "application/xml")], body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith("PutRecordBatch"):
                    with proxy.lock:
                        proxy.calls["firehose_put"] += 1
                        stall = proxy.calls["firehose_put"] in proxy.stall_firehose_calls
                    if stall:
                        # Accept the request, forward nothing, answer nothing.
                        proxy.injected["firehose_stalled_calls"] += 1
                        time.sleep(proxy.stall_seconds)
                        self.close_connection = True
                        return
                    if proxy.roll("firehose_throttle"):
                        proxy.injected["firehose_throttled_calls"] += 1
                        return self._error(400, "ThrottlingException", "Rate exceeded (injected)")
                    if proxy.roll("firehose_permanent"):
                        proxy.injected["firehose_permanent_calls"] += 1
                        return self._error(400, "InvalidArgumentException", "Record is invalid (injected)")
                    request = json.loads(body)
                    records = request["Records"]
                    failed = [i for i in range(len(records)) if proxy.roll("firehose_entry_failure")]
                    if failed:
                        proxy.injected["firehose_failed_entries"] += len(failed)
                        request["Records"] = [r for i, r in enumerate(records) if i not in failed]
                    if not request["Records"]:
                        responses = []
                        status, headers = 200, [("Content-Type", "application/x-amz-json-1.1")]
                    else:
                        status, headers, data = proxy._forward("POST", self.path, dict(self.headers), json.dumps(request).encode())
                        if status != 200:
                            return self._reply(status, headers, data)
                        responses = json.loads(data)["RequestResponses"]
                    merged, it = [], iter(responses)
                    for i in range(len(records)):
                        merged.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down. (injected)"} if i in failed else next(it))
                    out = {"FailedPutCount": len(failed), "Encrypted": False, "RequestResponses": merged}
                    return self._reply(200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(out).encode())
                if target.endswith("ReceiveMessage") and proxy.roll("sqs_receive_failure"):
                    proxy.injected["sqs_receive_failures"] += 1
                    return self._error(500, "InternalError", "We encountered an internal error. (injected)")
                status, headers, data = proxy._forward(self.command, self.path, dict(self.headers), body)
                self._reply(status, headers, data)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        return Handler
