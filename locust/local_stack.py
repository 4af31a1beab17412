"""The local stack for load tests: moto's server with the Redshift Data API stand-in of
the end-to-end tests, on a loopback port, until killed.

    python locust/local_stack.py PORT
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from moto.server import ThreadedMotoServer  # noqa: E402
from redshift_standin import RedshiftStandin  # noqa: E402

if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    RedshiftStandin().install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)
