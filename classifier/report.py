"""Metrics and plots from a head's probabilities: classification report, confusion matrix,
reliability diagram and coverage-precision curve."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import classification_report, confusion_matrix  # noqa: E402

from .calibration import head_metrics  # noqa: E402
from .model import HEADS  # noqa: E402

REPORTED = ("accuracy", "macro_f1", "weighted_f1", "top3_accuracy", "ece", "auto_route_coverage",
            "auto_route_precision")
# OPD figures a candidate may not lose; coverage too, or sending everything to review would pass
GATED = ("macro_f1", "auto_route_coverage", "auto_route_precision")


def evaluate(model, frame) -> dict:
    """Metrics of both heads on the rows of `frame` that carry that head's label (others: null)."""
    probs = model.predict_proba(frame["text"]) if len(frame) else {}
    result = {"n": int(len(frame))}
    for head in HEADS:
        labelled = (frame[head] != "").to_numpy()
        if not labelled.any():
            result[head] = None
            continue
        metrics = head_metrics(model.classes_[head], probs[head][labelled], frame[head][labelled],
                               model.thresholds_[head])
        result[head] = {"n": int(labelled.sum()), **{key: metrics[key] for key in REPORTED}}
    return result


def compare(candidate: dict, serving: dict, tolerance: float) -> tuple[bool, list[list]]:
    """Side-by-side OPD figures; the candidate passes unless it loses more than `tolerance` on a gated one."""
    rows, passed = [], True
    for metric in REPORTED:
        new, old = candidate["opd"][metric], serving["opd"][metric]
        worse = metric in GATED and (new if new is not None else 0.0) < (old if old is not None else 0.0) - tolerance
        passed &= not worse
        rows.append([f"opd {metric}", old, new, "" if new is None or old is None else new - old,
                     "REFUSED" if worse else ("gated" if metric in GATED else "")])
    return passed, rows


def coverage_precision(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every cut-off, the share of items at or above it and their precision (most confident first)."""
    order = np.argsort(-confidence)
    hits = np.asarray(correct, float)[order]
    n = np.arange(1, len(hits) + 1)
    return n / len(hits), np.cumsum(hits) / n


def write_report(directory: Path, classes: dict, probs: dict, targets: dict, thresholds: dict, max_labels: int = 25):
    """Write report.txt and the PNG plots for both heads into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = []
    fig_rel, ax_rel = plt.subplots(figsize=(5, 5))
    fig_cov, ax_cov = plt.subplots(figsize=(6, 4))
    for head in HEADS:
        predicted = classes[head][probs[head].argmax(axis=1)]
        confidence = probs[head].max(axis=1)
        correct = predicted == targets[head]
        texts.append(f"== {head} (n={len(correct)}, review threshold {thresholds[head]:.3f})\n"
                     + classification_report(targets[head], predicted, zero_division=0))
        _reliability(ax_rel, confidence, correct, head)
        coverage, precision = coverage_precision(confidence, correct)
        ax_cov.plot(coverage, precision, label=head)
        _confusion(directory / f"confusion_{head}.png", targets[head], predicted, head, max_labels)
    ax_rel.plot([0, 1], [0, 1], "k--", linewidth=1)
    ax_rel.set(xlabel="confidence", ylabel="accuracy", title="Reliability (validation)")
    ax_rel.legend()
    fig_rel.tight_layout()
    fig_rel.savefig(directory / "reliability.png", dpi=100)
    ax_cov.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    ax_cov.set(xlabel="share routed automatically", ylabel="precision", title="Coverage vs precision (validation)",
               ylim=(0.5, 1.01))
    ax_cov.legend()
    fig_cov.tight_layout()
    fig_cov.savefig(directory / "coverage_precision.png", dpi=100)
    plt.close("all")
    (directory / "report.txt").write_text("\n".join(texts), encoding="utf-8")


def _reliability(ax, confidence, correct, label, bins: int = 10):
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    xs, ys = [], []
    for b in range(bins):
        mask = index == b
        if mask.any():
            xs.append(confidence[mask].mean())
            ys.append(correct[mask].mean())
    ax.plot(xs, ys, marker="o", label=label)


def _confusion(path: Path, targets, predicted, head: str, max_labels: int):
    """Confusion matrix over the most frequent true labels (the rest grouped as 'other')."""
    labels, counts = np.unique(targets, return_counts=True)
    keep = list(labels[np.argsort(-counts)][:max_labels])
    squash = np.vectorize(lambda x: x if x in keep else "other")
    names = keep + ["other"]
    matrix = confusion_matrix(squash(targets), squash(predicted), labels=names)
    size = max(6, 0.35 * len(names))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    short = [n if len(n) <= 28 else n[:26] + "…" for n in names]
    ax.set_xticks(range(len(names)), short, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), short, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix: {head} (validation)")
    for i, j in zip(*np.nonzero(matrix)):
        ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
