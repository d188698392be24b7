"""One argparse behaviour for every `junheng` subcommand: a usage error prints the usage and the message and
becomes exit status 2 (spec §4), returned to the caller rather than raised as SystemExit."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


class UsageError(Exception):
    pass


class ArgParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: 用法错误 / usage error: {message}", file=sys.stderr)
        raise UsageError(message)


def parse_or_exit_code(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status: 2 for wrong usage, 0 after --help."""
    try:
        return parser.parse_args(list(argv) if argv is not None else None)
    except UsageError:
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
