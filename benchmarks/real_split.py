"""Routing model vs a plain TF-IDF + LinearSVC baseline on real Surabaya complaints.

`python -m benchmarks.real_split`: trains on the earliest 80% (by created_at) of
../shared/data/real/surabaya_dev.csv, evaluates on the latest 20%, and prints a table of both
models beside the targets; then times training on the whole file and the stemmer's throughput.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
import warnings

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

from benchmarks.common import REAL_DATA, load_real, print_table
from classifier.report import evaluate
from classifier.model import RoutingModel
from classifier.text import TextNormalizer
from classifier.train import fit_on_frame

TARGETS = {("opd", "accuracy"): ">= 0.86", ("opd", "macro_f1"): ">= 0.66", ("opd", "ece"): "<= 0.03",
           ("opd", "auto_route_coverage"): ">= 0.60", ("opd", "auto_route_precision"): ">= 0.95",
           ("category", "accuracy"): ">= 0.65", ("category", "top3_accuracy"): ">= 0.85"}


def baseline(train, test, head: str) -> dict:
    """TF-IDF word 1-2-grams + LinearSVC on raw lowercased text: what a first attempt looks like."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    svm = LinearSVC().fit(vectorizer.fit_transform(train["text"]), train[head])
    predicted = svm.predict(vectorizer.transform(test["text"]))
    return {"accuracy": accuracy_score(test[head], predicted),
            "macro_f1": f1_score(test[head], predicted, average="macro", zero_division=0)}


def stemming_throughput(texts) -> dict:
    """Tokens per second of normalise + stem over the corpus with a cold cache; then, in a second
    pass on a fresh normaliser under tracemalloc, the peak memory that stemming the corpus holds."""
    normalizer = TextNormalizer()
    started = time.perf_counter()
    tokens = sum(len(normalizer.tokens(text)) for text in texts)
    seconds = time.perf_counter() - started
    info = normalizer._cached_stem.cache_info()
    fresh = TextNormalizer()
    tracemalloc.start()
    for text in texts:
        fresh.tokens(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"tokens": tokens, "tokens_per_s": tokens / seconds, "cache_entries": info.currsize,
            "cache_limit": info.maxsize, "peak_mb": peak / 2**20}


def run(params: dict) -> dict:
    frame = load_real()
    stemming = stemming_throughput(frame["text"])  # first, so that its memory growth is its own
    cut = int(len(frame) * 0.8)
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        model, *_ = fit_on_frame(RoutingModel(**params), train)
        fit_80 = time.perf_counter() - started
        ours = evaluate(model, test)
        base = {head: baseline(train, test, head) for head in ("opd", "category")}
        started = time.perf_counter()
        fit_on_frame(RoutingModel(**params), frame)
        fit_all = time.perf_counter() - started
    return {"train_rows": len(train), "test_rows": len(test), "ours": ours, "baseline": base,
            "fit_80_s": fit_80, "fit_all_s": fit_all, "stemming": stemming,
            "opd_blend_weights": model.describe()["opd_blend_weights"],
            "validation_opd_without_category": model.validation_["opd_without_category"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="{}", help="JSON of RoutingModel parameters to try")
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    args = parser.parse_args(argv)
    if not REAL_DATA.is_file():
        print(f"skipped: {REAL_DATA} is not present")
        return 0
    result = run(json.loads(args.params))
    rows = []
    for head in ("opd", "category"):
        for metric in ("accuracy", "macro_f1", "weighted_f1", "top3_accuracy", "ece", "auto_route_coverage",
                       "auto_route_precision"):
            rows.append([f"{head} {metric}", TARGETS.get((head, metric), ""), result["ours"][head][metric],
                         result["baseline"][head].get(metric, "")])
    stem = result["stemming"]
    rows += [["training on whole file (s)", "<= 60", result["fit_all_s"], ""],
             ["stemming tokens/s", ">= 50000", stem["tokens_per_s"], ""],
             ["stem cache entries / limit", "bounded", f"{stem['cache_entries']} / {stem['cache_limit']}", ""],
             ["peak memory of stemming the corpus (MB)", "bounded", stem["peak_mb"], ""]]
    print(f"Surabaya time split: train {result['train_rows']} oldest rows, test {result['test_rows']} newest")
    print_table(["figure", "target", "routing model", "TF-IDF+LinearSVC"], rows)
    print(f"OPD blend weights (validation-fitted): {result['opd_blend_weights']}")
    if args.json:
        print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
