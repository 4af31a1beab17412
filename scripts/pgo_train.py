"""Training payloads for scripts/pgo: full Lambda Kinesis events of every feed shape the
batcher reads, built as scripts/bench builds its mixes but from feeds of other seeds
(101 and 103; the bench uses 3, 5 and 7), so the profile is not taken on the very bytes
the bench then times.

    python scripts/pgo_train.py PUSHFEED_BIN OUT_DIR     (writes OUT_DIR/<shape>.json)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

SHAPES = ("all", "braze_nested_large", "braze_batch", "braze_flat", "airship_ndjson", "bad_2pct")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    pushfeed, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    mix = bench.generate(pushfeed, out / "mix-feed.jsonl", 60_000, 101, 0)
    bad = bench.generate(pushfeed, out / "bad-feed.jsonl", 20_000, 103, 0.02)
    mixes = dict(bench.shape_mixes(mix), all=bench.feed_records(mix), bad_2pct=bench.feed_records(bad))
    for name in SHAPES:
        payload, n = bench.payload_from_records(mixes[name], 10_000)
        if n == 0:
            print(f"pgo_train: no {name} records in the generated feed", file=sys.stderr)
            return 1
        (out / f"{name}.json").write_bytes(payload)
        print(f"  {name}: {n} records, {len(payload):,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
