"""Real-world check of the shipped data: train only on data/labelled/, evaluate on Surabaya.

`python -m benchmarks.shipped_vs_real`: Surabaya agencies are mapped to our OPD codes with
benchmarks/surabaya_opd_map.csv where an obvious counterpart exists; rows of other agencies
(e.g. Bagian Perekonomian, which handles PDAM there; Dinas Kebudayaan..., Bagian Umum) are left
out. Prints OPD accuracy and macro-F1, the ten most frequent confusions, and per agency its rows,
misses, recall and the accuracy the whole set would reach if all of that agency's rows were right
(how much of the gap one agency can close).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd

from benchmarks.common import REAL_DATA, ROOT, load_real, print_table
from classifier.report import evaluate
from classifier.models_store import load_model

MAPPING = Path(__file__).with_name("surabaya_opd_map.csv")


def mapped_real() -> pd.DataFrame:
    mapping = pd.read_csv(MAPPING).set_index("surabaya_opd")["our_opd"]
    frame = load_real()
    frame["opd"] = frame["opd"].map(mapping)
    frame["category"] = ""  # Surabaya's categories are not ours: only the OPD head is judged
    return frame[frame["opd"].notna()].reset_index(drop=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model directory to evaluate (default: train one from data/labelled/)")
    args = parser.parse_args(argv)
    if not REAL_DATA.is_file():
        print(f"skipped: {REAL_DATA} is not present")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or str(Path(tmp) / "shipped")
        if not args.model:
            subprocess.run([sys.executable, "-m", "classifier.train", "--data", str(ROOT / "data" / "labelled"),
                            "--out", model_dir], check=True, cwd=ROOT)
        model, _ = load_model(model_dir)
    frame = mapped_real()
    result = evaluate(model, frame)["opd"]
    predicted = [p.opd.label for p in model.predict(frame["text"])]
    confusions = Counter((t, p) for t, p in zip(frame["opd"], predicted) if t != p).most_common(10)
    total = len(load_real())
    print(f"Trained on data/labelled/ only; evaluated on {len(frame)} of {total} Surabaya rows with a mapped OPD")
    print_table(["figure", "target", "value"], [
        ["OPD accuracy", ">= 0.85", result["accuracy"]], ["OPD macro-F1", "", result["macro_f1"]],
        ["OPD weighted-F1", "", result["weighted_f1"]], ["OPD top-3 accuracy", "", result["top3_accuracy"]],
        ["ECE", "", result["ece"]], ["auto-route coverage", "", result["auto_route_coverage"]],
        ["auto-route precision", "", result["auto_route_precision"]]])
    print("\nTen most frequent confusions (true -> predicted):")
    print_table(["true", "predicted", "rows"], [[t, p, n] for (t, p), n in confusions])
    print("\nBy agency, most misses first:")
    print_table(["agency", "rows", "misses", "recall", "accuracy if all its rows were right"],
                by_agency(frame["opd"].tolist(), predicted))
    return 0


def by_agency(true: list[str], predicted: list[str]) -> list[list]:
    rows, misses = Counter(true), Counter(t for t, p in zip(true, predicted) if t != p)
    total_misses = sum(misses.values())
    return [[agency, rows[agency], n, 1 - n / rows[agency], 1 - (total_misses - n) / len(true)]
            for agency, n in misses.most_common()]


if __name__ == "__main__":
    sys.exit(main())
