"""A local Lambda Runtime API for the real Lambda binaries (the `bootstrap` in each zip).

It serves the same event one or more times to a freshly started binary and answers, on
the same port, the AWS calls the binary makes (Firehose PutRecordBatch; Redshift Data API
BatchExecuteStatement/DescribeStatement; SNS Publish). It measures the time from process
start to the completed first invocation (cold start + first event), each later (warm)
invocation, and the process's peak resident memory after the last.

    invoke(binary, event_bytes, env, invocations=1)
        -> {"ms": …, "warm_ms": […], "peak_rss_mib": …, "response": …, "error": …, "stdout": …}

An ``AWS_ENDPOINT_URL`` in ``env`` sends the binary's AWS calls elsewhere (e.g. to moto's
server); the harness then only serves the Runtime API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class QuietServer(ThreadingHTTPServer):
    """The binary is stopped while its next-invocation request is open: not an error."""

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Harness:
    def __init__(self, event: bytes, invocations: int = 1):
        self.event = event
        self.invocations = invocations
        self.served = 0
        self.served_at = 0.0
        self.first_done_at = 0.0
        self.warm: list[float] = []
        self.done = threading.Event()
        self.response: bytes | None = None
        self.error: bytes | None = None
        self.finished_at = 0.0
        self.aws_calls: list[str] = []
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _handler(self):
        h = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status: int, body: bytes, headers: dict | None = None, ctype: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == f"{PREFIX}/invocation/next":
                    if h.served >= h.invocations:
                        h.done.wait(120)  # no more invocations for this process
                        return self.reply(500, b"{}")
                    h.served += 1
                    h.served_at = time.perf_counter()
                    deadline = int(time.time() * 1000) + 120_000
                    return self.reply(200, h.event, {
                        "Lambda-Runtime-Aws-Request-Id": f"bench-request-{h.served}",
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-2:123456789012:function:bench",
                        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                    })
                self.reply(404, b"{}")

            def do_PUT(self):
                # S3 PutObject (the loader's COPY manifest).
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                h.aws_calls.append("s3:PutObject")
                self.send_response(200)
                self.send_header("ETag", '"0123456789abcdef0123456789abcdef"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith(f"{PREFIX}/invocation/") and self.path.endswith("/response"):
                    h.response, h.finished_at = body, time.perf_counter()
                    if h.served == 1:
                        h.first_done_at = h.finished_at
                    else:
                        h.warm.append(round((h.finished_at - h.served_at) * 1000, 2))
                    if h.served >= h.invocations:
                        h.done.set()
                    return self.reply(202, b"{}")
                if self.path.startswith(PREFIX) and self.path.endswith("/error"):
                    h.error, h.finished_at = body, time.perf_counter()
                    h.done.set()
                    return self.reply(202, b"{}")
                target = self.headers.get("X-Amz-Target", "")
                h.aws_calls.append(target or "sns")
                if target.endswith("PutRecordBatch"):
                    n = len(json.loads(body)["Records"])
                    return self.reply(200, json.dumps({"FailedPutCount": 0, "Encrypted": False,
                                                       "RequestResponses": [{"RecordId": uuid.uuid4().hex} for _ in range(n)]}).encode(),
                                      ctype="application/x-amz-json-1.1")
                if target.endswith("BatchExecuteStatement"):
                    return self.reply(200, json.dumps({"Id": str(uuid.uuid4()), "CreatedAt": time.time()}).encode(), ctype="application/x-amz-json-1.1")
                if target.endswith("DescribeStatement"):
                    req = json.loads(body)
                    subs = [{"Id": f"{req['Id']}:{i + 1}", "Status": "FINISHED", "ResultRows": r, "RedshiftQueryId": i}
                            for i, r in enumerate([0, 0, 10, 10, 1, 0])]  # lock, stage, copy, insert, ledger, drop
                    return self.reply(200, json.dumps({"Id": req["Id"], "Status": "FINISHED", "SubStatements": subs,
                                                       "CreatedAt": time.time(), "UpdatedAt": time.time()}).encode(), ctype="application/x-amz-json-1.1")
                if b"Action=Publish" in body:
                    xml = b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>1</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>'
                    return self.reply(200, xml, ctype="text/xml")
                self.reply(400, json.dumps({"__type": "UnknownOperation", "message": target}).encode())

        return Handler


def invoke(binary: str, event: bytes, env: dict[str, str], invocations: int = 1) -> dict:
    harness = Harness(event, invocations)
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": harness.address,
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": f"http://{harness.address}", "RUST_LOG": "error", **env,
    }
    import tempfile

    out = tempfile.TemporaryFile()  # the binary's stdout: EMF metric lines (a file: never blocks)
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=full_env, stdout=out, stderr=subprocess.PIPE)
    # Until every invocation is answered, or the binary exits first (a failed cold start).
    deadline = time.monotonic() + 120
    finished = False
    while time.monotonic() < deadline:
        if harness.done.wait(0.05):
            finished = True
            break
        if proc.poll() is not None:
            break
    # The binary's own peak (VmHWM) while it is still alive: ru_maxrss from wait4 would
    # include this Python process's peak, inherited across execve.
    peak_kib = 0
    try:
        for line in open(f"/proc/{proc.pid}/status"):
            if line.startswith("VmHWM:"):
                peak_kib = int(line.split()[1])
    except OSError:
        pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    harness.server.shutdown()
    out.seek(0)
    stdout = out.read().decode(errors="replace")
    out.close()
    return {
        "stdout": stdout,
        "ms": round((harness.first_done_at - start) * 1000, 2) if finished and harness.first_done_at else None,
        "warm_ms": harness.warm,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "response": json.loads(harness.response) if harness.response else None,
        "error": harness.error.decode() if harness.error else (None if finished else f"no response; exit status {proc.returncode}; stderr: {stderr[-1000:]}"),
        "aws_calls": harness.aws_calls,
    }
