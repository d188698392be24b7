"""`junheng generate`: argument parsing around `generate()`.

`main_generate(argv)` is the whole command; `add_generate_arguments` + `run_generate` let a parent parser
register the options on its own subcommand."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .core import generate

DESCRIPTION = (
    "生成合成的学校统计数据（样例或全国规模）及其答案表 / write a synthetic school census (sample or national "
    "scale) with its answer key of planted slips and its events; the same seed writes the same bytes."
)
# pipelines/junheng/generate/cli.py → repository root → data/
DEFAULT_OUT = Path(__file__).resolve().parents[3] / "data"


def _years(text: str) -> range:
    m = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", text.strip())
    if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
        raise argparse.ArgumentTypeError(f"expected YEAR or FIRST-LAST, e.g. 2015-2024, not {text!r}")
    first = int(m.group(1))
    return range(first, int(m.group(2) or first) + 1)


def add_generate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: the repo's data/)")
    parser.add_argument("--seed", type=int, default=20241, help="random seed; the same seed writes the same bytes")
    parser.add_argument("--scale", choices=("sample", "national"), default="sample")
    parser.add_argument("--years", type=_years, default=range(2015, 2025), help="e.g. 2015-2024 (default)")
    parser.add_argument("--formats", choices=("mixed", "csv"), default="mixed",
                        help="mixed: CSV/XLSX in the real export shapes (sample); csv: plain UTF-8 CSV")
    parser.add_argument("--counties", type=int, default=None, help="national scale: number of counties (default 2,800)")
    return parser


def run_generate(args: argparse.Namespace) -> int:
    """Run with arguments parsed by a parser set up with `add_generate_arguments` (a subcommand's)."""
    summary = generate(args.out, seed=args.seed, scale=args.scale, years=args.years, formats=args.formats,
                       n_counties=args.counties)
    print(f"wrote {args.out}: {summary.text()}")
    return 0


def main_generate(argv: list[str] | None = None) -> int:
    """`junheng generate ARGS`: 0 when written, 2 on wrong usage (0 for --help)."""
    parser = add_generate_arguments(argparse.ArgumentParser(prog="junheng generate", description=DESCRIPTION))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on wrong usage, 0 on --help
        return int(e.code or 0)
    return run_generate(args)


if __name__ == "__main__":
    sys.exit(main_generate())
