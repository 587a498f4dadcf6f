"""PNG charts of a bench run: requests/s per target, and requests/s against cassette size.

Reads `bench/results.json` (written by run.py) and writes `bench/rps_per_target.png` and
`bench/rps_vs_cassette.png`. Needs matplotlib, a bench-only extra:
`pip install -e '.[bench]'`. Run alone: `.venv/bin/python bench/charts.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

HERE = Path(__file__).resolve().parent
COLORS = {"reference": "#7f7f7f", "portal-proxy": "#1f77b4", "peer": "#ff7f0e"}
SIZES = {"replay-1": 1, "replay-1k": 1_000, "replay-100k": 100_000}


def _stats(target: dict[str, Any], conc: str) -> tuple[float, float, float] | None:
    runs = target["runs"].get(conc) or []
    if target["status"] != "ok" or not runs:
        return None
    rps = sorted(r["rps"] for r in runs)
    return target["rps_median"][conc], rps[0], rps[-1]


def _bars(ax: Any, targets: list[dict[str, Any]], conc: str, title: str) -> None:
    """One horizontal bar per target: median req/s, whiskers = slowest and fastest round."""
    rows = [(t, s) for t in targets if (s := _stats(t, conc))]
    names = [t["name"] for t, _ in rows][::-1]
    medians = [s[0] for _, s in rows][::-1]
    errors = [[s[0] - s[1] for _, s in rows][::-1], [s[2] - s[0] for _, s in rows][::-1]]
    colors = [COLORS.get(t["group"], "#2ca02c") for t, _ in rows][::-1]
    highest = [s[2] for _, s in rows][::-1]
    ax.barh(names, medians, xerr=errors, color=colors, capsize=3)
    for y, (value, top) in enumerate(zip(medians, highest, strict=True)):
        ax.text(top, y, f"  {value:,.0f}", va="center", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("requests/s (median of rounds; whiskers: slowest-fastest round)")
    ax.set_xlim(0, max(highest, default=1) * 1.22)
    ax.grid(axis="x", alpha=0.3)


def per_target(data: dict[str, Any], out: Path) -> Path:
    """Bar charts of requests/s per target at c=32 and at c=1."""
    targets = data["targets"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.45 * len(targets) + 2.2))
    _bars(axes[0], targets, "32", "concurrency 32")
    _bars(axes[1], targets, "1", "concurrency 1")
    handles = [Patch(color=c) for c in COLORS.values()]
    fig.legend(handles, list(COLORS), loc="lower center", ncol=3, frameon=False)
    fig.suptitle("POST /portal-api/products/{id}/client_types: requests/s per target")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def per_cassette_size(data: dict[str, Any], out: Path) -> Path:
    """Replay requests/s against the number of interactions loaded, with reference lines."""
    by_name = {t["name"]: t for t in data["targets"]}
    fig, ax = plt.subplots(figsize=(8, 5))
    for conc, marker, color in (("32", "o", "#1f77b4"), ("1", "s", "#ff7f0e")):
        points = [(SIZES[n], s) for n in SIZES if n in by_name and (s := _stats(by_name[n], conc))]
        if not points:
            continue
        xs = [x for x, _ in points]
        ys = [s[0] for _, s in points]
        err = [[s[0] - s[1] for _, s in points], [s[2] - s[0] for _, s in points]]
        ax.errorbar(xs, ys, yerr=err, marker=marker, capsize=4, color=color,
                    label=f"portal-proxy replay, c={conc}")  # fmt: skip
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    references = (
        ("bare-aiohttp", "32", "--", "#1f77b4"),
        ("bare-aiohttp", "1", "--", "#ff7f0e"),
        ("talkback-replay", "32", ":", "#1f77b4"),
    )
    for name, conc, style, color in references:
        stats = _stats(by_name[name], conc) if name in by_name else None
        if stats:
            ax.axhline(stats[0], linestyle=style, color=color, alpha=0.6,
                       label=f"{name}, c={conc}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(0.4, 250_000)
    ax.set_xticks(list(SIZES.values()), ["1", "1,000", "100,000"])
    ax.set_xlabel("interactions in the cassette")
    ax.set_ylabel("requests/s (median of rounds)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # room for the legend above the lines
    ax.set_title("replay: requests/s against cassette size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def draw(results: Path = HERE / "results.json", directory: Path = HERE) -> list[Path]:
    """Draw both charts from `results`; returns the files written."""
    data = json.loads(results.read_text())
    return [
        per_target(data, directory / "rps_per_target.png"),
        per_cassette_size(data, directory / "rps_vs_cassette.png"),
    ]


if __name__ == "__main__":
    for path in draw():
        print(path)
