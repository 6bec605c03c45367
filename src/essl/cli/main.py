"""Entry point of the ``essl`` command.

Each subcommand group lives in ``essl/cli/<group>.py`` with ``register(subparsers)``; the
module must not import torch at import time, so ``essl --help`` stays instant. Handlers
import what they need.

Before anything runs, :func:`fast_allocator_env` makes glibc keep large activations
mapped between training steps (see the module docstring of :mod:`essl.cli.allocator`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from essl.cli.allocator import ensure_fast_allocator
from essl.errors import EXIT_USER_ERROR, EsslError

GROUPS = (
    "corpus",
    "targets",
    "pretrain",
    "evaluate",
    "boundaries",
    "pretext",
    "robustness",
    "fairness",
    "efficiency",
    "profile",
    "interop",
    "audit",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="essl",
        description="Efficient, knowledge-informed, robust and fair speech SSL.",
    )
    parser.add_argument("--version", action="version", version=f"essl {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        importlib.import_module(f"essl.cli.{group}").register(sub)
    return parser


def _version() -> str:
    from essl import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        ensure_fast_allocator()  # may re-exec this process with allocator tunables
        argv = sys.argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except EsslError as e:
        print(f"essl: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("essl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
