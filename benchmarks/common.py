"""What the benchmarks share: where the real data lives and how a result table is printed."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared" / "data" / "real" / "surabaya_dev.csv"
sys.path.insert(0, str(ROOT))

from classifier.cli import print_table  # noqa: E402,F401  (the benchmarks' tables)


def load_real():
    """The real Surabaya complaints, oldest first (never copied into the project)."""
    from classifier.dataset import load_labelled

    return load_labelled(REAL_DATA).sort_values("created_at", kind="stable").reset_index(drop=True)
