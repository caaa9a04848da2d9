"""Masking on texts crafted against it: `python -m benchmarks.masking`.

`mask_personal` runs on every citizen's text, twice per prediction. Each row is a text of the
limit's length (10,000 characters) built to make a regular expression backtrack, and the same text
at a quarter of the length: with linear-time patterns the time grows about four times, with the
quadratic ones this replaced about sixteen times (a 10,000-character text took 3-4 s, and a batch of
ten of them outlived gunicorn's 30 s worker timeout).
"""
from __future__ import annotations

import argparse
import time

from benchmarks.common import print_table
from classifier.text import mask_personal

LENGTH = 10_000
CRAFTED = {  # name -> (prefix, unit repeated to the length)
    "e-mail marker, long word": ("(at) @ x.com ", "a"),
    "disguised e-mail, long word": ("(at) ", "a"),
    "@, long word": ("@ ", "a"),
    "domain, hyphenated run": ("x.com ", "a-"),
    "phone prefix, digit run": ("0812 ", "1 "),
    "account word, digit run": ("rek ", "1 "),
    "spaced-dash digit groups": ("0812 - ", "12 - "),
    "digit groups, mixed separators": ("(+62) ", "3671 / 01\u2013"),
    "digit words, one short of a number": ("", "nol satu dua tiga empat lima enam, "),
}


def seconds(text: str, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        mask_personal(text)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m benchmarks.masking", description=__doc__.split("\n")[0]).parse_args(argv)
    rows = []
    for name, (prefix, unit) in CRAFTED.items():
        full = prefix + unit * ((LENGTH - len(prefix)) // len(unit))
        quarter = full[: len(full) // 4]
        rows.append([name, seconds(full) * 1000, seconds(quarter) * 1000, seconds(full) / max(seconds(quarter), 1e-9)])
    print(f"mask_personal on crafted texts of {LENGTH:,} characters (best of 3)")
    print_table(["text", "ms", "ms at 1/4 length", "growth (4 = linear, 16 = quadratic)"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
