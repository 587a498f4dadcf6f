"""The options of the commands that work on files (`check`, `import-har`, `export-har`):
`--spec` and `--cassette-dir`, read as the gateway's own options are (flag, then variable,
then the default written once in `proxy.options`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from proxy.options import BY_ATTR
from proxy.spec import shipped_spec_path


def add_spec_and_dir(parser: argparse.ArgumentParser, *, spec: bool = True) -> None:
    """Add `--cassette-dir` (and `--spec`) with the gateway's help text and variables."""
    names = ("spec", "cassette-dir") if spec else ("cassette-dir",)
    for name in names:
        option = BY_ATTR[name.replace("-", "_")]
        parser.add_argument(f"--{name}", metavar=option.metavar, help=option.full_help)


def spec_path(args: argparse.Namespace) -> str:
    """The OpenAPI document: `--spec`, else `PORTAL_PROXY_SPEC`, else the shipped one."""
    return args.spec or os.environ.get(BY_ATTR["spec"].env) or str(shipped_spec_path())


def cassette_dir(args: argparse.Namespace) -> Path:
    """The cassette folder: `--cassette-dir`, else its variable, else its default."""
    option = BY_ATTR["cassette_dir"]
    return Path(args.cassette_dir or os.environ.get(option.env) or option.default)
