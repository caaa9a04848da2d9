"""Calibration and the figures that judge it: top-label isotonic calibration, blend weights fitted
by likelihood, the review threshold for a target precision, ECE and the per-head metrics."""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Weighted gap between confidence and accuracy over equal-width confidence bins."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if confidence.size == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(ece)


def review_threshold(confidence: np.ndarray, correct: np.ndarray, target: float, min_support: int = 20) -> float:
    """The lowest confidence above which precision stays >= target on this (validation) data.

    Scans from the most confident down and keeps the largest auto-routed set whose precision
    reaches the target; needs at least `min_support` rows so a handful of lucky rows cannot set it.
    """
    order = np.argsort(-np.asarray(confidence), kind="stable")
    conf, hits = np.asarray(confidence)[order], np.asarray(correct, float)[order]
    counts = np.arange(1, len(hits) + 1)
    precision = np.cumsum(hits) / counts
    # Only cut between distinct confidences: rows tied at the threshold are all routed.
    boundary = np.append(conf[1:] < conf[:-1], True)
    ok = np.flatnonzero(boundary & (precision >= target) & (counts >= min_support))
    if ok.size == 0:
        return 1.0  # nothing can be routed automatically at this precision
    return float(conf[ok[-1]])


def fit_isotonic(confidence: np.ndarray, correct: np.ndarray, n_classes: int):
    """Maps a head's top probability to the observed chance that the top label is right.

    Never below 1/n_classes: the most likely of n labels is at least as likely as the others, even
    where the validation data's least confident rows happened to be all wrong. Anchored there too
    (one pseudo-row: a top probability of 1/n, no better than a guess, is right 1/n of the time),
    so that below the least confident validation row the map falls towards a guess instead of
    staying flat: a validation set without errors made every text, gibberish too, certain.
    """
    from sklearn.isotonic import IsotonicRegression

    guess = 1.0 / max(n_classes, 1)
    return IsotonicRegression(y_min=guess, y_max=1.0, out_of_bounds="clip").fit(
        np.append(confidence, guess), np.append(correct.astype(float), guess))


def recalibrate(probs: np.ndarray, calibrator) -> np.ndarray:
    """Replace the top probability by its calibrated value and rescale the others to sum to one.

    Isotonic maps keep the order of confidences, so ranking (and coverage at a precision) is
    unchanged while the confidence shown to operators means what it says.
    """
    best = probs.argmax(axis=1)
    rows = np.arange(len(probs))
    top = probs[rows, best]
    # IsotonicRegression.predict with out_of_bounds="clip" is this interpolation, minus its validation.
    # Never certain: a validation bin with no errors is still a finite sample.
    calibrated = np.clip(np.interp(top, calibrator.X_thresholds_, calibrator.y_thresholds_), 1e-4, 0.999)
    scale = (1.0 - calibrated) / np.maximum(1.0 - top, 1e-12)
    # Alternatives share what is left, never ranked above the top label.
    out = np.minimum(probs * scale[:, None], calibrated[:, None] * (1 - 1e-6))
    out[rows, best] = calibrated
    return out


def fit_weights(log_probs, target: np.ndarray, start: list[float]) -> np.ndarray:
    """Non-negative weights minimising the negative log-likelihood of the known targets."""
    known = target >= 0
    if not known.any():
        return np.array(start)

    def loss(weights):
        return -log_probs(weights)[known, target[known]].mean()

    result = minimize(loss, np.array(start), method="L-BFGS-B", bounds=[(1e-3, 100.0)] + [(0.0, 10.0)] * (len(start) - 1))
    return result.x


def head_metrics(classes: np.ndarray, probs: np.ndarray, targets, threshold: float) -> dict:
    """Accuracy, F1, top-3, ECE and auto-routing figures of one head. Unknown labels count as errors."""
    from sklearn.metrics import f1_score

    targets = np.asarray(targets, object)
    order = np.argsort(-probs, axis=1)
    predicted = classes[order[:, 0]]
    confidence = probs.max(axis=1)
    correct = predicted == targets
    auto = confidence >= threshold
    top3 = np.array([t in set(classes[row[:3]]) for t, row in zip(targets, order)])
    return {
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(targets, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(targets, predicted, average="weighted", zero_division=0)),
        "top3_accuracy": float(top3.mean()),
        "ece": expected_calibration_error(confidence, correct),
        "auto_route_coverage": float(auto.mean()),
        "auto_route_precision": float(correct[auto].mean()) if auto.any() else None,
        "review_threshold": float(threshold),
    }
