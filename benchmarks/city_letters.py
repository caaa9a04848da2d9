"""How far a city's own letters take the model: the shipped data plus N real letters labelled only
with their agency, judged on that city's later letters.

`python -m benchmarks.city_letters [--sizes 0,250,1000,4000,all]`: the Surabaya complaints whose
agency has a counterpart (benchmarks/surabaya_opd_map.csv), oldest first; the newest 20% are the
test letters. For each N, a model is trained as `classifier.train --data data/labelled --opd-only
...` trains it: on data/labelled/ plus the N newest letters before the test months, as OPD-only rows
(the category head leaves them out). Prints the OPD figures on the test letters for each N: what a
city can expect as it adds its own archive, or as operators correct routes.
"""
from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

from benchmarks.common import REAL_DATA, ROOT, print_table
from benchmarks.shipped_vs_real import mapped_real
from classifier.dataset import UNLABELLED, drop_duplicates, load_labelled
from classifier.model import RoutingModel
from classifier.report import evaluate
from classifier.train import fit_on_frame

TEST_FRACTION = 0.2


def sizes(value: str, available: int) -> list[int]:
    return [available if size == "all" else min(int(size), available) for size in value.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="0,250,1000,4000,all", help="comma-separated N (or 'all')")
    args = parser.parse_args(argv)
    if not REAL_DATA.is_file():
        print(f"skipped: {REAL_DATA} is not present")
        return 0
    ours, _ = drop_duplicates(load_labelled(ROOT / "data" / "labelled"))
    letters = mapped_real().assign(category=UNLABELLED)  # oldest first
    n_test = int(round(len(letters) * TEST_FRACTION))
    earlier, test = letters.iloc[:-n_test], letters.iloc[-n_test:]
    rows = []
    for n in sizes(args.sizes, len(earlier)):
        frame, _ = drop_duplicates(pd.concat([ours, earlier.iloc[len(earlier) - n:]], ignore_index=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rare-label warnings: the shipped data's own, known
            model = fit_on_frame(RoutingModel(), frame)[0]
        opd = evaluate(model, test)["opd"]
        rows.append([n, opd["accuracy"], opd["macro_f1"], opd["ece"], opd["auto_route_coverage"],
                     opd["auto_route_precision"]])
        print(f"N = {n}: OPD accuracy {opd['accuracy']:.4f}", file=sys.stderr, flush=True)
    print(f"data/labelled/ ({len(ours)} rows) plus the N newest of {len(earlier)} earlier Surabaya letters "
          f"(OPD only); tested on the newest {len(test)}")
    print_table(["N", "OPD accuracy", "OPD macro-F1", "ECE", "auto-route coverage", "auto-route precision"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
