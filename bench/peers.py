"""The Node peers (Prism, talkback), installed by npm into a folder outside the repository.

Default folder: `~/.cache/portal-proxy-bench` (or `$PORTAL_PROXY_BENCH_HOME`). Each package
gets its own npm prefix there, at a pinned version; an installed one is not fetched again.
When npm is missing or fails, the peer is reported as skipped, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HOME = Path(os.environ.get("PORTAL_PROXY_BENCH_HOME", Path.home() / ".cache/portal-proxy-bench"))

#: The versions the issue's peer table was measured with.
VERSIONS = {"@stoplight/prism-cli": "5.16.0", "talkback": "4.2.0"}


@dataclass(frozen=True)
class Peer:
    """One npm package: where it lives, and its version or why it is unavailable."""

    package: str
    prefix: Path
    version: str | None
    problem: str | None

    @property
    def modules(self) -> Path:
        """The node_modules folder (NODE_PATH for scripts that `require` the package)."""
        return self.prefix / "node_modules"


def node_version() -> str | None:
    """`node --version`, or None without node."""
    if shutil.which("node") is None:
        return None
    done = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def _installed_version(prefix: Path, package: str) -> str | None:
    manifest = prefix / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure(package: str, folder: str) -> Peer:
    """`package` at its pinned version under `HOME/<folder>`, installing it if needed."""
    prefix = HOME / folder
    want = VERSIONS[package]
    if _installed_version(prefix, package) == want:
        return Peer(package, prefix, want, None)
    if shutil.which("npm") is None or shutil.which("node") is None:
        return Peer(package, prefix, None, "node/npm not installed")
    prefix.mkdir(parents=True, exist_ok=True)
    argv = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    argv += ["--loglevel=error", f"{package}@{want}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        return Peer(package, prefix, None, "npm install timed out after 600 s")
    version = _installed_version(prefix, package)
    if done.returncode != 0 or version is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Peer(package, prefix, None, f"npm install failed: {last}")
    return Peer(package, prefix, version, None)
