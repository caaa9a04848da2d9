"""What the data team's command lines share: column options, the registry option, error exits."""
from __future__ import annotations

import argparse
import sys

from .dataset import COLUMNS
from .errors import DataError
from .registry import REGISTRY_DIR, Registry, load_registry


def add_column_options(parser: argparse.ArgumentParser) -> None:
    for name in COLUMNS:
        flag = name.replace("_", "-")
        parser.add_argument(f"--{flag}-column", dest=f"{name}_column", default=name, metavar="NAME",
                            help=f"column holding '{name}' (default: {name})")
    parser.add_argument("--registry", default=str(REGISTRY_DIR),
                        help="folder with opds.csv and categories.csv that labels must come from")
    parser.add_argument("--no-registry", action="store_true",
                        help="accept any labels (data from another city, e.g. benchmarks)")


def column_map(args: argparse.Namespace) -> dict[str, str]:
    return {name: getattr(args, f"{name}_column") for name in COLUMNS}


def load_registry_option(args: argparse.Namespace) -> Registry | None:
    return None if args.no_registry else load_registry(args.registry)


def fail(error: DataError | Exception | str, code: int = 2) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code


def reason(error: Exception) -> str:
    """The first line of what went wrong underneath (a database driver's message, not SQLAlchemy's wrapping)."""
    return (str(getattr(error, "orig", None) or error).splitlines() or [type(error).__name__])[0]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return "" if value is None else str(value)


def print_table(header: list[str], rows: list[list]) -> None:
    """A plain aligned text table, for command lines and benchmarks."""
    cells = [header] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))
