"""Training time and peak memory as the data grows: 1k, 10k and 100k complaints.

`python -m benchmarks.scale [--sizes 1000,10000,100000]`: each training set is made by resampling
the shipped data (data/labelled/) with variation, so that the texts are not copies: per row, random
word dropout, swaps of adjacent words, typos (a letter dropped or doubled), standard words replaced
by a slang form (data/lexicon/slang.csv read backwards) and sometimes a sentence appended from
another complaint of the same category; dates are spread over the shipped period; labels are kept.
Each set is written to a temporary CSV and trained by `python -m classifier.train` in a child
process, whose wall time and peak resident memory (from wait4's rusage) are printed beside the
targets.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import ROOT, print_table
from classifier.dataset import COLUMNS, drop_duplicates, load_labelled
from classifier.registry import load_registry
from classifier.text import LEXICON_DIR, load_pairs

TARGET_ROWS, TARGET_SECONDS, TARGET_MIB = 100_000, 600, 8 * 1024
LABELLED = ROOT / "data" / "labelled"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class Variation:
    """Makes varied copies of the shipped complaints; seeded, so a size always gets the same rows."""

    def __init__(self, frame: pd.DataFrame, seed: int = 0, dropout: float = 0.08, swap: float = 0.05,
                 typo: float = 0.03, slang: float = 0.3, append: float = 0.3):
        self.frame, self.rng = frame.reset_index(drop=True), random.Random(seed)
        self.dropout, self.swap, self.typo, self.slang_rate, self.append = dropout, swap, typo, slang, append
        self.slang: dict[str, list[str]] = {}
        for informal, standard in load_pairs(LEXICON_DIR / "slang.csv").items():
            if " " not in standard and informal != standard:
                self.slang.setdefault(standard, []).append(informal)
        self.sentences = {category: [s for text in texts for s in _SENTENCE_END.split(text) if len(s.split()) >= 3]
                          for category, texts in self.frame.groupby("category")["text"]}
        self.start = frame["created_at"].min()
        self.span = (frame["created_at"].max() - self.start).total_seconds()

    def rows(self, n: int) -> pd.DataFrame:
        picks = [self.rng.randrange(len(self.frame)) for _ in range(n)]
        source = self.frame.iloc[picks]
        offsets = pd.to_timedelta([self.rng.uniform(0, self.span) for _ in range(n)], unit="s")
        return pd.DataFrame({
            "id": [f"scale-{i:06d}" for i in range(n)],
            "text": [self.text(text, category) for text, category in zip(source["text"], source["category"])],
            "category": source["category"].to_numpy(), "opd": source["opd"].to_numpy(),
            "created_at": (self.start + offsets).strftime("%Y-%m-%dT%H:%M:%S"),
        })

    def text(self, text: str, category: str) -> str:
        rng = self.rng
        words = [w for w in text.split() if rng.random() >= self.dropout] or text.split()[:1]
        for i in range(len(words) - 1):
            if rng.random() < self.swap:
                words[i], words[i + 1] = words[i + 1], words[i]
        words = [self._vary(word) for word in words]
        pool = self.sentences.get(category)
        if pool and rng.random() < self.append:
            words.append(rng.choice(pool))
        return " ".join(words)

    def _vary(self, word: str) -> str:
        rng = self.rng
        informal = self.slang.get(word.lower())
        if informal and rng.random() < self.slang_rate:
            return rng.choice(informal)
        if len(word) > 3 and rng.random() < self.typo:
            i = rng.randrange(1, len(word) - 1)
            return word[:i] + word[i + 1:] if rng.random() < 0.5 else word[:i] + word[i] + word[i:]
        return word


def train_child(csv: Path, out: Path, log: Path) -> dict:
    """Run the training command on `csv`; return its wall time and peak RSS (its own rusage via wait4)."""
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        child = subprocess.Popen([sys.executable, "-m", "classifier.train", "--data", str(csv), "--out", str(out)],
                                 cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"training on {csv} failed (exit {child.returncode}):\n{tail}")
    card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    return {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024,  # ru_maxrss is in KiB on Linux
            "trained": card["data"]["rows"]}


def profile_fit(csv: Path) -> None:
    """In a child process: fit the model on `csv` under cProfile; print time and peak memory per stage of
    RoutingModel.fit, then the functions with the most cumulative time (cProfile inflates pure-Python parts)."""
    import cProfile
    import pstats
    import resource

    from classifier.train import fit_on_frame, model_from_config

    frame, _ = drop_duplicates(load_labelled(csv))
    marks = []

    def mark(stage: str) -> None:
        marks.append((stage, time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))

    mark("load data")
    profiler = cProfile.Profile()
    profiler.runcall(fit_on_frame, model_from_config(None, None), frame, progress=mark)
    mark("end")
    print_table(["stage of RoutingModel.fit", "seconds", "peak MiB so far"],
                [[stage, f"{end - start:.1f}", round(peak)] for (stage, start, _), (_, end, peak) in zip(marks, marks[1:])])
    print()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"classifier|sklearn|Sastrawi|scipy", 25)


def growth(now: float, before: float | None) -> str:
    return "" if before is None else f"x{now / before:.1f}"


def report(results: list[tuple[int, dict]]) -> None:
    rows, previous = [], None
    for size, result in results:
        rows.append([size, result["trained"], f"{result['seconds']:.1f}", round(result["peak_mib"]),
                     f"{result['seconds'] / size * 1000:.2f}", growth(size, previous and previous[0]),
                     growth(result["seconds"], previous and previous[1]["seconds"]),
                     growth(result["peak_mib"], previous and previous[1]["peak_mib"])])
        previous = (size, result)
    print_table(["rows", "after dedup", "seconds", "peak MiB", "s per 1k rows", "rows growth", "time growth",
                 "memory growth"], rows)
    print(f"\ntargets at {TARGET_ROWS:,} rows: <= {TARGET_SECONDS} s and <= {TARGET_MIB} MiB (8 GiB)")
    for size, result in results:
        if size == TARGET_ROWS:
            ok = result["seconds"] <= TARGET_SECONDS and result["peak_mib"] <= TARGET_MIB
            print(f"{size:,} rows: {result['seconds']:.0f} s, {result['peak_mib']:.0f} MiB -> "
                  f"{'within targets' if ok else 'TARGET MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated training set sizes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing the training command, profile the stages of the fit for each size")
    parser.add_argument("--profile-csv", help=argparse.SUPPRESS)  # the child process of --profile
    args = parser.parse_args(argv)
    if args.profile_csv:
        profile_fit(Path(args.profile_csv))
        return 0
    sizes = sorted(int(size) for size in args.sizes.split(","))

    shipped, _ = drop_duplicates(load_labelled(LABELLED, registry=load_registry()))
    print(f"shipped data: {len(shipped)} complaints; load average before: {os.getloadavg()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="laksa-scale-") as tmp:
        for size in sizes:
            csv, out = Path(tmp) / f"train_{size}.csv", Path(tmp) / f"model_{size}"
            made = time.perf_counter()
            Variation(shipped, seed=args.seed + size).rows(size)[list(COLUMNS)].to_csv(csv, index=False)
            print(f"{size:,} rows made in {time.perf_counter() - made:.1f} s; training...", flush=True)
            if args.profile:
                subprocess.run([sys.executable, "-m", "benchmarks.scale", "--profile-csv", str(csv)], cwd=ROOT, check=True)
                continue
            results.append((size, train_child(csv, out, Path(tmp) / f"train_{size}.log")))
            print(f"  {results[-1][1]['seconds']:.1f} s, {results[-1][1]['peak_mib']:.0f} MiB", flush=True)
    print(f"load average after: {os.getloadavg()}\n")
    if results:
        report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
