"""Which pipeline steps earn their place: `python -m benchmarks.ablation`.

Trains on the earliest 80% of the real Surabaya complaints with the default pipeline and with one
step switched at a time (off if the defaults run it, on if they do not), evaluates on the latest
20%, and prints OPD and category figures per variant. A step is in the defaults only if it helps.
"""
from __future__ import annotations

import argparse
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
TEXT_STEPS = {"unicode_nfkc": "Unicode NFKC", "mask_personal": "masking of personal numbers",
              "collapse_repeats": "collapsing of repeated letters", "reduplication": "reduplication folding",
              "slang": "slang dictionary", "stem": "Sastrawi stemming", "drop_numbers": "dropping of bare numbers"}


def _flipped(step: str, label: str) -> tuple[str, dict]:
    """The default pipeline with one text step switched: off if the defaults run it, on if they do not."""
    on = getattr(BASE, step)
    return f"{'no' if on else 'with'} {label}", {"text_config": replace(BASE, **{step: not on})}


VARIANTS = {
    "default pipeline": {},
    **dict(_flipped(step, label) for step, label in TEXT_STEPS.items()),
    "no character n-grams": {"char_ngrams": None},
    "OPD head ignores the category": {"use_category_for_opd": False},
    "no class weighting": {"class_weight": None},
}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.split("\n")[0]).parse_args(argv)
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
