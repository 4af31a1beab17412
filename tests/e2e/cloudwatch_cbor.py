"""CloudWatch over Smithy RPC v2 CBOR, added to moto's server.

The AWS SDK for Rust calls CloudWatch with the RPC v2 CBOR protocol (`POST
/service/GraniteServiceVersion20100801/operation/<Operation>`, a CBOR body, the header
`smithy-protocol: rpc-v2-cbor`), which CloudWatch serves beside its older query protocol
("Smithy RPC v2 CBOR protocol", Smithy documentation; the SDK's CloudWatch models list
`rpcv2Cbor` first). moto 5.2.1 answers only the query protocol, in XML, which the SDK
cannot read. This bridge answers the two operations `pushfeed status` makes — DescribeAlarms
and GetMetricStatistics — from moto's own CloudWatch backend, in CBOR, so a test sees what
boto3 put into moto (alarms, their states, metric data) the way the Rust SDK reads AWS.
"""

from __future__ import annotations

from datetime import datetime, timezone

import cbor2
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
ACCOUNT = "123456789012"


def _backend(region: str):
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[ACCOUNT][region]


def _region(environ) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    # Credential=<key>/<date>/<region>/monitoring/aws4_request
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return "eu-west-2"


def _time(v) -> datetime:
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).replace(tzinfo=None)
    return datetime.fromtimestamp(float(v), timezone.utc).replace(tzinfo=None)


def describe_alarms(region: str, req: dict) -> dict:
    prefix = req.get("AlarmNamePrefix") or ""
    state = req.get("StateValue")
    alarms = [a for a in _backend(region).describe_alarms()
              if a.name.startswith(prefix) and (state is None or a.state_value == state)]
    return {"MetricAlarms": [{"AlarmName": a.name, "StateValue": a.state_value,
                              "StateReason": a.state_reason or ""} for a in alarms],
            "CompositeAlarms": []}


def get_metric_statistics(region: str, req: dict) -> dict:
    stats = req.get("Statistics") or []
    points = _backend(region).get_metric_statistics(
        req["Namespace"], req["MetricName"], _time(req["StartTime"]), _time(req["EndTime"]),
        int(req["Period"]), stats, req.get("Dimensions") or [], req.get("Unit"))
    out = []
    for p in points:
        d = {"Timestamp": cbor2.CBORTag(1, p.timestamp.replace(tzinfo=timezone.utc).timestamp())}
        if "Sum" in stats and p.sum is not None:
            d["Sum"] = float(p.sum)
        if "Maximum" in stats and p.maximum is not None:
            d["Maximum"] = float(p.maximum)
        out.append(d)
    return {"Label": req["MetricName"], "Datapoints": out}


OPERATIONS = {"DescribeAlarms": describe_alarms, "GetMetricStatistics": get_metric_statistics}


def install() -> None:
    original = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return original(self, environ, start_response)
        op = path[len(PREFIX):]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        req = cbor2.loads(body) if body else {}
        handler = OPERATIONS.get(op)
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        if handler is None:
            out, status = {"__type": "UnknownOperationException", "message": f"the stand-in has no {op}"}, "400 Bad Request"
        else:
            out, status = handler(_region(environ), req), "200 OK"
        data = cbor2.dumps(out)
        start_response(status, headers + [("Content-Length", str(len(data)))])
        return [data]

    DomainDispatcherApplication.__call__ = call
