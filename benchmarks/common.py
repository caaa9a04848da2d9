"""What the benchmarks share: where the real data lives and how a result table is printed."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared" / "data" / "real" / "surabaya_dev.csv"
sys.path.insert(0, str(ROOT))


def load_real():
    """The real Surabaya complaints, oldest first (never copied into the project)."""
    from classifier.dataset import load_labelled

    return load_labelled(REAL_DATA).sort_values("created_at", kind="stable").reset_index(drop=True)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return "" if value is None else str(value)


def print_table(header: list[str], rows: list[list]) -> None:
    cells = [header] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * width for width in widths))
