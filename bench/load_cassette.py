"""How long `load_cassette` takes on a generated 100,000-interaction cassette.

Run: `.venv/bin/python bench/load_cassette.py [COUNT]`. Prints the file size, the load time
(our appendable layout) and the time to index the result into a `Cassette`. Not a test:
timings belong here, not in assertions that flake on a loaded machine.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from proxy.cassette import Cassette, Interaction, RecordedRequest, RecordedResponse
from proxy.storage import HEADER, encode_interaction, load_cassette


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


def main() -> None:
    """Generate, load, index, and print the timings."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_bytes(
            HEADER + b"".join(encode_interaction(interaction(i)) for i in range(count))
        )
        times, cpu = [], []
        for _ in range(5):  # best and median of five: shared machines are noisy
            start, start_cpu = time.perf_counter(), time.process_time()
            loaded = load_cassette(path)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            assert len(loaded) == count
        start = time.perf_counter()
        cassette = Cassette("big", interactions=loaded)
        indexed = time.perf_counter() - start
        assert len(cassette) == count
        print(f"{count} interactions, {path.stat().st_size / 1e6:.1f} MB")
        print(
            f"load_cassette: best {min(times):.2f} s, median {statistics.median(times):.2f} s"
            f" (CPU time: best {min(cpu):.2f} s)"
        )
        print(f"Cassette(...) indexing: {indexed:.2f} s")


if __name__ == "__main__":
    main()
