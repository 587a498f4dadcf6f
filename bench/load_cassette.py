"""How long loading and indexing a 100,000-interaction cassette takes, and its memory.

Run: `.venv/bin/python bench/load_cassette.py [COUNT | PATH] [--runs N]`. With a count, a
cassette of that many realistic GET exchanges is generated (every response different); with
a path, that cassette is measured (e.g. one `bench/cassettes.py` wrote). Each run is a fresh
process, as a server start is: a second load in the same process reuses the memory the
first one freed, and looks faster than any start-up. Prints the medians of the runs: load
(`load_cassette`), index (`Cassette(...)`, with the cyclic collector paused as the gateway
pauses it) and the process's resident memory after both. Not a test: timings belong here,
not in assertions that flake on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from proxy.cassette import Cassette, Interaction, RecordedRequest, RecordedResponse
from proxy.storage import HEADER, encode_interaction, gc_paused, load_cassette


def interaction(i: int) -> Interaction:
    """A realistic client_types exchange, different for each `i`."""
    body = orjson.dumps(
        [
            {"id": i, "name": f"client type {i}", "description": "x" * 40, "grant_types": ["a"]},
            {"id": i + 1, "name": "other", "description": None, "grant_types": []},
        ]
    )
    return Interaction(
        RecordedRequest(
            "GET",
            f"http://127.0.0.1:5000/portal-api/products/{i % 500}/client_types?page={i}",
            (("Accept", "application/json"), ("Authorization", "REDACTED")),
            b"",
        ),
        RecordedResponse(
            200,
            "OK",
            (("Content-Type", "application/json"), ("Content-Length", str(len(body)))),
            body,
        ),
    )


def measure_once(path: Path) -> dict[str, float]:
    """Load and index `path` in this process: CPU seconds of each, resident MB after."""
    with gc_paused():
        start = time.process_time()
        loaded = load_cassette(path)
        loaded_at = time.process_time()
        cassette = Cassette(path.stem, interactions=loaded)
        indexed_at = time.process_time()
    status = Path("/proc/self/status").read_text()
    rss_kb = int(status.split("VmRSS:")[1].split()[0])
    assert len(cassette) == len(loaded)
    return {"load": loaded_at - start, "index": indexed_at - loaded_at, "rss_mb": rss_kb / 1024}


def main() -> None:
    """Generate (or take) a cassette, measure it in fresh processes, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cassette", nargs="?", default="100000", help="a count, or a path")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once:
        print(json.dumps(measure_once(Path(args.cassette))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.cassette.isdigit():
            path = Path(tmp) / "big.yaml"
            items = (encode_interaction(interaction(i)) for i in range(int(args.cassette)))
            path.write_bytes(HEADER + b"".join(items))
        else:
            path = Path(args.cassette)
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, str(path), "--once"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(args.runs)
        ]
        count = len(load_cassette(path))
        print(f"{path.name}: {count} interactions, {path.stat().st_size / 1e6:.1f} MB")
    for what, unit in (("load", "s CPU"), ("index", "s CPU"), ("rss_mb", "MB resident")):
        values = [run[what] for run in runs]
        print(
            f"{what:>6}: median {statistics.median(values):.2f} {unit} "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} fresh processes)"
        )


if __name__ == "__main__":
    main()
