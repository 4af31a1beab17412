"""The local stack for load tests: moto's server with the Redshift Data API stand-in of
the end-to-end tests, on a loopback port, until killed.

    python locust/local_stack.py PORT

moto's Kinesis shard is not safe under concurrent writers: PutRecords computes the next
sequence number without a lock, so two writers can get the same number and one record
silently replaces the other (seen here: ~5% of records lost at 1,350 records/s from four
writers), and GetRecords can fail with "OrderedDict mutated during iteration". Kinesis
does neither, so this stack serialises moto's Kinesis record calls with one lock.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from moto.server import ThreadedMotoServer  # noqa: E402
from redshift_standin import RedshiftStandin  # noqa: E402

def serialise_kinesis_records() -> None:
    import functools
    import threading

    from moto.kinesis.models import KinesisBackend

    lock = threading.Lock()
    for name in ("put_record", "put_records", "get_records"):
        original = getattr(KinesisBackend, name)

        @functools.wraps(original)
        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        setattr(KinesisBackend, name, locked)


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    RedshiftStandin().install()
    serialise_kinesis_records()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)
