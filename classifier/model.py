"""`RoutingModel`: one artefact with two heads, category and OPD, calibrated, with review thresholds.

Shaped like a scikit-learn estimator: the constructor stores parameters, `fit` learns attributes
ending in `_`, `predict_proba` and `predict` read them. It knows nothing of Flask or SQL; a
prediction is a plain `Prediction` that the command lines and the service share.

How it decides:
- features (`features.py`): TF-IDF over stemmed word 1-2-grams, plus character 3-5-grams of the
  cleaned text;
- each head is a class-weighted linear SVM (one-vs-rest); its margins become probabilities by a
  softmax whose temperature is fitted on validation data, and the top probability is then mapped
  by isotonic regression to the observed chance of being right (`calibration.py`);
- the OPD head also listens to the category head: its log-probabilities are blended with the
  log of the OPD distribution implied by the predicted categories (P(opd|category) counted on
  the training data); the blend weights are fitted on validation data, and a weight of zero
  is what the data says when the category does not help;
- `needs_review` is set when the OPD confidence is below the threshold that, on validation
  data, keeps the precision of auto-routed complaints at `target_precision`.

A row may lack one head's label (`UNLABELLED`, e.g. a city's archive that names only the agency):
that head neither learns from it nor is calibrated or judged on it; the other head uses it.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.svm import LinearSVC

from .calibration import fit_isotonic, fit_weights, head_metrics, recalibrate, review_threshold
from .dataset import UNLABELLED
from .errors import DataError
from .features import Features, Terms, stack
from .text import TextConfig, TextNormalizer

HEADS = ("category", "opd")


@dataclass
class HeadPrediction:
    label: str
    name: str
    confidence: float
    alternatives: list[dict] = field(default_factory=list)  # the next labels: {"label", "name", "confidence"}


@dataclass
class Prediction:
    category: HeadPrediction
    opd: HeadPrediction
    needs_review: bool
    reasons: list[str]  # terms (stems) that pushed the OPD decision most

    def to_dict(self) -> dict:
        return asdict(self)


class RareLabelWarning(UserWarning):
    """Labels seen fewer than `min_label_count` times: that head does not learn them."""


class RoutingModel:
    """Predicts a complaint's category and target OPD with calibrated confidences."""

    def __init__(self, text_config: TextConfig | None = None, word_ngrams=(1, 2), char_ngrams=(3, 5),
                 category_uses_chars: bool = False, opd_uses_chars: bool = True, C_category: float = 0.5,
                 C_opd: float = 0.3, class_weight: str | None = "balanced", min_df: int = 2,
                 use_category_for_opd: bool = True, target_precision: float = 0.95, min_label_count: int = 3,
                 n_reasons: int = 5, n_alternatives: int = 3, lexicon_dir=None):
        self.text_config = text_config or TextConfig()
        self.word_ngrams, self.char_ngrams = tuple(word_ngrams), (tuple(char_ngrams) if char_ngrams else None)
        self.category_uses_chars, self.opd_uses_chars = category_uses_chars, opd_uses_chars
        self.C_category, self.C_opd, self.class_weight, self.min_df = C_category, C_opd, class_weight, min_df
        self.use_category_for_opd, self.target_precision = use_category_for_opd, target_precision
        self.min_label_count, self.n_reasons, self.n_alternatives = min_label_count, n_reasons, n_alternatives
        self.lexicon_dir = lexicon_dir

    def get_params(self) -> dict:
        params = {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}
        params["text_config"] = asdict(self.text_config)
        params.pop("lexicon_dir", None)
        return params

    # ----------------------------------------------------------------------------- fitting
    def fit(self, texts, categories, opds, valid=None, label_names: dict[str, dict[str, str]] | None = None,
            refit: bool = True, progress=None) -> "RoutingModel":
        """Fit on (texts, categories, opds); calibrate and set thresholds on `valid`, a tuple of the same.

        Without `valid`, calibration uses the training data itself (over-confident; for tiny sets only).
        With `refit`, the heads are fitted once more on training plus validation data, keeping the
        calibration, so the served model has seen the most recent complaints.
        """
        step = progress or (lambda message: None)
        texts, categories, opds = list(texts), np.asarray(categories, object), np.asarray(opds, object)
        self.label_names_ = label_names or {"category": {}, "opd": {}}
        valid_texts, valid_categories, valid_opds = (texts, categories, opds) if valid is None else valid
        valid_texts = list(valid_texts)
        valid_categories, valid_opds = np.asarray(valid_categories, object), np.asarray(valid_opds, object)
        refit = refit and valid is not None
        final = ((texts + valid_texts, np.concatenate([categories, valid_categories]),
                  np.concatenate([opds, valid_opds])) if refit else (texts, categories, opds))
        # Counted on the rows the served model learns from: with the refit, the validation rows too.
        self.rare_labels_ = {head: self._rare(labels[labels != UNLABELLED]) for head, labels in zip(HEADS, final[1:])}
        step("fit heads")
        # One normaliser for both fits: the refit reuses the stems cached during the first.
        normalizer = TextNormalizer(self.text_config, self.lexicon_dir)
        self._fit_heads(normalizer, texts, categories, opds)
        step("calibrate")
        self._calibrate(valid_texts, valid_categories, valid_opds)
        if refit:
            step("refit on all data")
            self._fit_heads(normalizer, *final)
        return self

    def _rare(self, labels: np.ndarray) -> list[str]:
        counts = Counter(labels)
        rare = sorted(label for label, n in counts.items() if n < self.min_label_count)
        if rare:
            warnings.warn(f"{len(rare)} label(s) seen fewer than {self.min_label_count} times are not learned "
                          f"(their rows still train the other head): {', '.join(rare[:10])}"
                          f"{' ...' if len(rare) > 10 else ''}", RareLabelWarning, stacklevel=3)
        return rare

    def _fit_heads(self, normalizer: TextNormalizer, texts: list[str], categories: np.ndarray, opds: np.ndarray) -> None:
        self.features_ = Features(normalizer, self.word_ngrams, self.char_ngrams, self.min_df)
        self._linear = None  # new heads: the serving weights are derived again
        words, chars = self.features_.fit_transform(texts)
        self.heads_ = {}
        for head, labels, C, use_chars in (("category", categories, self.C_category, self.category_uses_chars),
                                           ("opd", opds, self.C_opd, self.opd_uses_chars)):
            keep = (labels != UNLABELLED) & ~np.isin(labels, self.rare_labels_[head])
            learnable = np.unique(labels[keep])
            if len(learnable) < 2:
                raise DataError(f"the {head} head has fewer than 2 labels to learn ({', '.join(learnable) or 'none'}); "
                                f"it needs 2 or more, each with at least {self.min_label_count} rows")
            svm = LinearSVC(C=C, class_weight=self.class_weight, random_state=0)
            svm.fit(stack(words, chars, use_chars)[keep], labels[keep])
            self.heads_[head] = svm
        self.classes_ = {head: self.heads_[head].classes_ for head in HEADS}
        self.vocabulary_ = self.features_.word.get_feature_names_out()
        self.category_to_opd_ = self._category_to_opd(categories, opds)

    def _category_to_opd(self, categories: np.ndarray, opds: np.ndarray, smoothing: float = 0.1) -> np.ndarray:
        """P(opd | category) counted on training rows, smoothed so no OPD is ruled out."""
        cat_index = {c: i for i, c in enumerate(self.classes_["category"])}
        opd_index = {o: i for i, o in enumerate(self.classes_["opd"])}
        counts = np.full((len(cat_index), len(opd_index)), smoothing)
        for category, opd in zip(categories, opds):
            if category in cat_index and opd in opd_index:
                counts[cat_index[category], opd_index[opd]] += 1
        return counts / counts.sum(axis=1, keepdims=True)

    def _margins(self, texts) -> tuple[np.ndarray, np.ndarray, list[Terms]]:
        """Both heads' SVM decision values, and each text's word terms (for the reasons)."""
        encoded = self.features_.encode(texts)
        margins = []
        for head in HEADS:
            word_weights, char_weights, intercept = self._linear_heads()[head]
            rows = [_score(words, word_weights) + (0.0 if char_weights is None else _score(chars, char_weights))
                    for words, chars in encoded]
            margins.append(np.array(rows).reshape(len(encoded), -1) + intercept)
        return margins[0], margins[1], [words for words, _ in encoded]

    def _linear_heads(self) -> dict[str, tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
        """Each head's SVM weights, transposed and split by feature block, so that scoring a text
        gathers the rows of its few non-zero columns instead of multiplying sparse matrices."""
        if getattr(self, "_linear", None) is None:
            n_words = len(self.features_.word.idf_)
            self._linear = {}
            for head, uses_chars in (("category", self.category_uses_chars), ("opd", self.opd_uses_chars)):
                weights = np.ascontiguousarray(self.heads_[head].coef_.T)
                chars = weights[n_words:] if uses_chars and self.features_.char else None
                self._linear[head] = (weights[:n_words], chars, self.heads_[head].intercept_)
        return self._linear

    def warm_up(self) -> None:
        """Prepare what serving needs before the first request (and before gunicorn forks)."""
        self.features_.warm_up()
        self._linear_heads()

    @staticmethod
    def _binary_safe(margins: np.ndarray) -> np.ndarray:
        # A two-class SVM returns one margin column; make it two so the softmax applies.
        return np.hstack([-margins / 2, margins / 2]) if margins.shape[1] == 1 else margins

    def _opd_log_probs(self, opd_margins, category_probs, weights) -> np.ndarray:
        logits = weights[0] * self._binary_safe(opd_margins)
        if weights[1]:
            logits = logits + weights[1] * np.log(category_probs @ self.category_to_opd_)
        return log_softmax(logits)

    def _calibrate(self, texts: list[str], categories: np.ndarray, opds: np.ndarray) -> None:
        cat_margins, opd_margins, _ = self._margins(texts)
        cat_margins = self._binary_safe(cat_margins)
        cat_target = _indices(self.classes_["category"], categories)
        opd_target = _indices(self.classes_["opd"], opds)
        self.category_temperature_ = fit_weights(lambda w: log_softmax(w[0] * cat_margins), cat_target, [1.0])
        category_probs = np.exp(log_softmax(self.category_temperature_[0] * cat_margins))
        direct = fit_weights(lambda w: self._opd_log_probs(opd_margins, category_probs, [w[0], 0.0]), opd_target, [1.0])
        self.opd_weights_ = np.array([direct[0], 0.0])
        if self.use_category_for_opd:
            blended = fit_weights(lambda w: self._opd_log_probs(opd_margins, category_probs, w), opd_target, [1.0, 0.5])
            self.opd_weights_ = blended
        raw = {"category": category_probs,
               "opd": np.exp(self._opd_log_probs(opd_margins, category_probs, self.opd_weights_))}
        direct_probs = np.exp(self._opd_log_probs(opd_margins, category_probs, [direct[0], 0.0]))
        # From here on, each head is calibrated and judged on the rows that carry its label.
        labelled = {"category": categories != UNLABELLED, "opd": opds != UNLABELLED}
        raw = {head: raw[head][labelled[head]] for head in HEADS}
        targets = {"category": categories[labelled["category"]], "opd": opds[labelled["opd"]]}
        direct_probs = direct_probs[labelled["opd"]]
        self.calibrators_ = {head: fit_isotonic(*self._confidence_and_hits(head, raw[head], targets[head]),
                                                 len(self.classes_[head])) for head in HEADS}
        probs = {head: recalibrate(raw[head], self.calibrators_[head]) for head in HEADS}
        direct_probs = recalibrate(direct_probs, fit_isotonic(
            *self._confidence_and_hits("opd", direct_probs, targets["opd"]), len(self.classes_["opd"])))
        # For the report; not saved. The refit may learn other labels: keep the columns' classes.
        self.validation_predictions_ = {"probs": probs, "targets": targets, "classes": self.classes_}
        self.thresholds_, self.validation_ = {}, {"n": len(texts)}
        for head in HEADS:
            confidence, correct = self._confidence_and_hits(head, probs[head], targets[head])
            self.thresholds_[head] = review_threshold(confidence, correct, self.target_precision)
            self.validation_[head] = {"n": len(targets[head]), **head_metrics(
                self.classes_[head], probs[head], targets[head], self.thresholds_[head])}
        self.validation_["opd_without_category"] = head_metrics(
            self.classes_["opd"], direct_probs, targets["opd"],
            review_threshold(*self._confidence_and_hits("opd", direct_probs, targets["opd"]), self.target_precision))

    def _confidence_and_hits(self, head, probs, targets):
        best = probs.argmax(axis=1)
        return probs.max(axis=1), self.classes_[head][best] == targets

    # ----------------------------------------------------------------------------- predicting
    def predict_proba(self, texts) -> dict[str, np.ndarray]:
        """Calibrated probabilities per head, columns in the order of `classes_[head]`."""
        return self._probabilities(list(texts))[0]

    def _probabilities(self, texts: list[str]):
        cat_margins, opd_margins, words = self._margins(texts)
        category_probs = np.exp(log_softmax(self.category_temperature_[0] * self._binary_safe(cat_margins)))
        opd_probs = np.exp(self._opd_log_probs(opd_margins, category_probs, self.opd_weights_))
        raw = {"category": category_probs, "opd": opd_probs}
        return {head: recalibrate(raw[head], self.calibrators_[head]) for head in HEADS}, words

    def predict(self, texts) -> list[Prediction]:
        texts = list(texts)
        if not texts:
            return []
        probs, words = self._probabilities(texts)
        top = {head: np.argsort(-probs[head], axis=1)[:, : 1 + self.n_alternatives] for head in HEADS}
        predictions = []
        for i in range(len(texts)):
            heads = {head: self._head_prediction(head, probs[head][i], top[head][i]) for head in HEADS}
            predictions.append(Prediction(
                category=heads["category"], opd=heads["opd"],
                # The unrounded probability, as evaluation compares it: thresholds are plateau values like 6/7.
                needs_review=bool(probs["opd"][i, top["opd"][i][0]] < self.thresholds_["opd"]),
                reasons=self._reasons(words[i], int(top["opd"][i][0]))))
        return predictions

    def _head_prediction(self, head: str, probs: np.ndarray, order: np.ndarray) -> HeadPrediction:
        names = self.label_names_.get(head, {})
        entries = [{"label": str(self.classes_[head][j]), "name": names.get(str(self.classes_[head][j]),
                    str(self.classes_[head][j])), "confidence": round(float(probs[j]), 4)} for j in order]
        best = entries[0]
        return HeadPrediction(best["label"], best["name"], best["confidence"], entries[1:])

    def _reasons(self, words: Terms, opd_index: int) -> list[str]:
        """Word features of this text with the largest positive weight x value for the chosen OPD."""
        coef = self.heads_["opd"].coef_
        weights = coef[opd_index] if coef.shape[0] > 1 else (coef[0] if opd_index == 1 else -coef[0])
        contributions = words.values * weights[words.columns]
        order = np.argsort(-contributions)[: self.n_reasons]
        return [str(self.vocabulary_[words.columns[k]]) for k in order if contributions[k] > 0]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("validation_predictions_", None)  # only the training run's report needs them
        state.pop("_linear", None)  # derived from the heads when first needed
        return state

    def describe(self) -> dict:
        """What the model card records about this model."""
        return {"params": self.get_params(), "labels": {h: [str(c) for c in self.classes_[h]] for h in HEADS},
                "rare_labels_not_learned": self.rare_labels_, "thresholds": self.thresholds_,
                "category_temperature": float(self.category_temperature_[0]),
                "opd_blend_weights": {"opd_margins": float(self.opd_weights_[0]),
                                      "category_implied": float(self.opd_weights_[1])},
                "validation": self.validation_}


def _score(terms: Terms, weights: np.ndarray) -> np.ndarray:
    """A linear function of one text's TF-IDF terms: the weight rows of its columns, weighted."""
    return terms.values @ np.take(weights, terms.columns, axis=0)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax; scipy.special's costs more in argument handling than in arithmetic
    for the one-row arrays of a single prediction."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _indices(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Position of each label in `classes`, -1 for labels the head never learned."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(label, -1) for label in labels])
