"""Which pipeline steps earn their place: `python -m benchmarks.ablation`.

Trains on the earliest 80% of the real Surabaya complaints with the default pipeline and with
one step switched off at a time, evaluates on the latest 20%, and prints OPD and category
figures per variant. A step is kept in the defaults only if switching it off makes things worse.
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import replace

from benchmarks.common import REAL_DATA, load_real, print_table
from classifier.model import RoutingModel
from classifier.report import evaluate
from classifier.text import TextConfig
from classifier.train import fit_on_frame

BASE = TextConfig()
VARIANTS = {
    "default pipeline": {},
    "no Unicode NFKC": {"text_config": replace(BASE, unicode_nfkc=False)},
    "no masking of personal numbers": {"text_config": replace(BASE, mask_personal=False)},
    "no collapsing of repeated letters": {"text_config": replace(BASE, collapse_repeats=False)},
    "no reduplication folding": {"text_config": replace(BASE, reduplication=False)},
    "no slang dictionary": {"text_config": replace(BASE, slang=False)},
    "no Sastrawi stemming": {"text_config": replace(BASE, stem=False)},
    "numbers kept as tokens": {"text_config": replace(BASE, drop_numbers=False)},
    "no character n-grams": {"char_ngrams": None},
    "OPD head ignores the category": {"use_category_for_opd": False},
    "no class weighting": {"class_weight": None},
}


def main() -> int:
    if not REAL_DATA.is_file():
        print(f"skipped: {REAL_DATA} is not present")
        return 0
    frame = load_real()
    cut = int(len(frame) * 0.8)
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    rows = []
    for name, params in VARIANTS.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, *_ = fit_on_frame(RoutingModel(**params), train, refit=False)
        result = evaluate(model, test)
        opd, category = result["opd"], result["category"]
        rows.append([name, opd["accuracy"], opd["macro_f1"], opd["ece"], opd["auto_route_coverage"],
                     opd["auto_route_precision"], category["accuracy"], category["top3_accuracy"],
                     time.perf_counter() - started])
        print(f"  {name}: done", file=sys.stderr)
    print(f"Ablation on the Surabaya time split ({len(train)} train / {len(test)} test; no refit on validation rows)")
    print_table(["variant", "OPD acc", "OPD macro-F1", "OPD ECE", "auto cov", "auto prec", "cat acc", "cat top-3",
                 "seconds"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
