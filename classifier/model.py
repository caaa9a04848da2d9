"""`RoutingModel`: one artefact with two heads, category and OPD, calibrated, with review thresholds.

Shaped like a scikit-learn estimator: the constructor stores parameters, `fit` learns attributes
ending in `_`, `predict_proba` and `predict` read them. It knows nothing of Flask or SQL; a
prediction is a plain `Prediction` that the command lines and the service share.

How it decides:
- features: TF-IDF over stemmed word 1-2-grams, plus character 3-5-grams of the cleaned text;
- each head is a linear SVM (one-vs-rest); its margins become probabilities by a softmax whose
  temperature is fitted on validation data (so confidences are calibrated);
- the OPD head also listens to the category head: its log-probabilities are blended with the
  log of the OPD distribution implied by the predicted categories (P(opd|category) counted on
  the training data); the blend weights are fitted on validation data, and a weight of zero
  is what the data says when the category does not help;
- `needs_review` is set when the OPD confidence is below the threshold that, on validation
  data, keeps the precision of auto-routed complaints at `target_precision`.
"""
from __future__ import annotations

import functools
import warnings
from collections import Counter
from itertools import chain
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

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


def _stem_tokens(cleaned: str, normalizer: TextNormalizer) -> list[str]:
    return [normalizer.stem(word) for word in cleaned.split()]


class _Features:
    """Cleans each text once, then builds word and (optionally) character TF-IDF blocks.

    Fitting uses scikit-learn's vectorizers. Transforming uses their fitted vocabularies and idf
    weights directly: the same numbers, without the input validation that costs about a
    millisecond per call and dominated the latency of a single /predict.
    """

    def __init__(self, normalizer: TextNormalizer, word_ngrams: tuple[int, int], char_ngrams: tuple[int, int] | None,
                 min_df: int):
        self.normalizer = normalizer
        self.word = TfidfVectorizer(tokenizer=self._tokens, preprocessor=None, lowercase=False, token_pattern=None,
                                    ngram_range=word_ngrams, min_df=min_df, sublinear_tf=True, dtype=np.float32)
        self.char = None if char_ngrams is None else TfidfVectorizer(
            analyzer="char_wb", lowercase=False, ngram_range=char_ngrams, min_df=max(min_df, 2), sublinear_tf=True,
            max_features=200_000, dtype=np.float32)

    def _tokens(self, cleaned: str) -> list[str]:
        return _stem_tokens(cleaned, self.normalizer)

    def fit_transform(self, texts) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        cleaned = [self.normalizer.clean(t) for t in texts]
        self.normalizer.remember({word for doc in cleaned for word in doc.split()})
        words = self.word.fit_transform(cleaned)
        return words, (self.char.fit_transform(cleaned) if self.char else None)

    def transform(self, texts) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        cleaned = [self.normalizer.clean(t) for t in texts]
        analyzer, vocabulary = self.word.build_analyzer(), self.word.vocabulary_
        words = _tfidf(cleaned, lambda doc: (j for j in map(vocabulary.get, analyzer(doc)) if j is not None),
                       self.word.idf_)
        if not self.char:
            return words, None
        # char_wb n-grams never cross a word boundary, so a text's n-grams are its words' n-grams:
        # computed once per word and cached.
        char_columns = self._char_columns()
        return words, _tfidf(cleaned, lambda doc: chain.from_iterable(map(char_columns, doc.split())), self.char.idf_)

    def warm_up(self) -> None:
        """Compute the character n-gram columns of every word seen in training, so that the first
        requests after a start (or in every freshly forked worker) find them cached."""
        if self.char:
            columns = self._char_columns()
            for word in self.normalizer.known_stems:
                columns(word)

    def _char_columns(self):
        if getattr(self, "_char_cache", None) is None:
            analyzer, vocabulary = self.char.build_analyzer(), self.char.vocabulary_

            @functools.lru_cache(maxsize=100_000)
            def columns(word: str) -> tuple[int, ...]:
                return tuple(j for j in map(vocabulary.get, analyzer(word)) if j is not None)

            self._char_cache = columns
        return self._char_cache

    def __getstate__(self):
        return {**self.__dict__, "_char_cache": None}


def _tfidf(docs: list[str], columns_of, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF-IDF rows, L2-normalised, as TfidfVectorizer(sublinear_tf=True).transform computes
    them; `columns_of(doc)` yields the vocabulary column of each of the document's terms."""
    indptr, indices, values = [0], [], []
    for doc in docs:
        counts = Counter(columns_of(doc))
        columns = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[columns]
        norm = np.sqrt(weights @ weights)
        indices.append(columns)
        values.append(weights / norm if norm else weights)
        indptr.append(indptr[-1] + len(columns))
    return sp.csr_matrix((np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32),
                          np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr),
                         shape=(len(docs), len(idf)))


def _stack(words, chars, use_chars: bool):
    return sp.hstack([words, chars], format="csr") if use_chars and chars is not None else words


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
        params = {k: v for k, v in vars(self).items() if not k.endswith("_")}
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
        self.rare_labels_ = {head: self._rare(labels) for head, labels in zip(HEADS, (categories, opds))}
        step("fit heads")
        # One normaliser for both fits: the refit reuses the stems cached during the first.
        normalizer = TextNormalizer(self.text_config, self.lexicon_dir)
        self._fit_heads(normalizer, texts, categories, opds)
        valid_texts, valid_categories, valid_opds = (texts, categories, opds) if valid is None else valid
        valid_categories, valid_opds = np.asarray(valid_categories, object), np.asarray(valid_opds, object)
        step("calibrate")
        self._calibrate(list(valid_texts), valid_categories, valid_opds)
        if refit and valid_texts is not texts:
            step("refit on all data")
            self._fit_heads(normalizer, texts + list(valid_texts), np.concatenate([categories, valid_categories]),
                            np.concatenate([opds, valid_opds]))
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
        self.features_ = _Features(normalizer, self.word_ngrams, self.char_ngrams, self.min_df)
        words, chars = self.features_.fit_transform(texts)
        self.heads_ = {}
        for head, labels, C, use_chars in (("category", categories, self.C_category, self.category_uses_chars),
                                           ("opd", opds, self.C_opd, self.opd_uses_chars)):
            keep = ~np.isin(labels, self.rare_labels_[head])
            svm = LinearSVC(C=C, class_weight=self.class_weight, random_state=0)
            svm.fit(_stack(words, chars, use_chars)[keep], labels[keep])
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

    def _margins(self, texts) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        words, chars = self.features_.transform(texts)
        margins = []
        for head, uses_chars in (("category", self.category_uses_chars), ("opd", self.opd_uses_chars)):
            svm = self.heads_[head]  # a linear decision function, computed without per-call validation
            margins.append(np.asarray(_stack(words, chars, uses_chars) @ svm.coef_.T) + svm.intercept_)
        return margins[0], margins[1], words

    @staticmethod
    def _binary_safe(margins: np.ndarray) -> np.ndarray:
        # A two-class SVM returns one margin column; make it two so the softmax applies.
        return np.hstack([-margins / 2, margins / 2]) if margins.shape[1] == 1 else margins

    def _opd_log_probs(self, opd_margins, category_probs, weights) -> np.ndarray:
        logits = weights[0] * self._binary_safe(opd_margins)
        if weights[1]:
            logits = logits + weights[1] * np.log(category_probs @ self.category_to_opd_)
        return log_softmax(logits, axis=1)

    def _calibrate(self, texts: list[str], categories: np.ndarray, opds: np.ndarray) -> None:
        cat_margins, opd_margins, _ = self._margins(texts)
        cat_margins = self._binary_safe(cat_margins)
        cat_target = _indices(self.classes_["category"], categories)
        opd_target = _indices(self.classes_["opd"], opds)
        self.category_temperature_ = _fit_weights(lambda w: log_softmax(w[0] * cat_margins, axis=1), cat_target, [1.0])
        category_probs = softmax(self.category_temperature_[0] * cat_margins, axis=1)
        direct = _fit_weights(lambda w: self._opd_log_probs(opd_margins, category_probs, [w[0], 0.0]), opd_target, [1.0])
        self.opd_weights_ = np.array([direct[0], 0.0])
        if self.use_category_for_opd:
            blended = _fit_weights(lambda w: self._opd_log_probs(opd_margins, category_probs, w), opd_target, [1.0, 0.5])
            self.opd_weights_ = blended
        raw = {"category": category_probs,
               "opd": np.exp(self._opd_log_probs(opd_margins, category_probs, self.opd_weights_))}
        direct_probs = np.exp(self._opd_log_probs(opd_margins, category_probs, [direct[0], 0.0]))
        targets = {"category": categories, "opd": opds}
        self.calibrators_ = {head: _fit_isotonic(*self._confidence_and_hits(head, raw[head], targets[head]),
                                                 len(self.classes_[head])) for head in HEADS}
        probs = {head: _recalibrate(raw[head], self.calibrators_[head]) for head in HEADS}
        direct_probs = _recalibrate(direct_probs, _fit_isotonic(*self._confidence_and_hits("opd", direct_probs, opds),
                                                                len(self.classes_["opd"])))
        self.validation_predictions_ = {"probs": probs, "targets": targets}  # for the report; not saved
        self.thresholds_, self.validation_ = {}, {"n": len(texts)}
        for head in HEADS:
            confidence, correct = self._confidence_and_hits(head, probs[head], targets[head])
            self.thresholds_[head] = review_threshold(confidence, correct, self.target_precision)
            self.validation_[head] = head_metrics(self.classes_[head], probs[head], targets[head],
                                                  self.thresholds_[head])
        self.validation_["opd_without_category"] = head_metrics(
            self.classes_["opd"], direct_probs, opds,
            review_threshold(*self._confidence_and_hits("opd", direct_probs, opds), self.target_precision))

    def _confidence_and_hits(self, head, probs, targets):
        best = probs.argmax(axis=1)
        return probs.max(axis=1), self.classes_[head][best] == targets

    # ----------------------------------------------------------------------------- predicting
    def predict_proba(self, texts) -> dict[str, np.ndarray]:
        """Calibrated probabilities per head, columns in the order of `classes_[head]`."""
        return self._probabilities(list(texts))[0]

    def _probabilities(self, texts: list[str]):
        cat_margins, opd_margins, words = self._margins(texts)
        category_probs = softmax(self.category_temperature_[0] * self._binary_safe(cat_margins), axis=1)
        opd_probs = np.exp(self._opd_log_probs(opd_margins, category_probs, self.opd_weights_))
        raw = {"category": category_probs, "opd": opd_probs}
        return {head: _recalibrate(raw[head], self.calibrators_[head]) for head in HEADS}, words

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
                needs_review=heads["opd"].confidence < self.thresholds_["opd"],
                reasons=self._reasons(words[i], int(top["opd"][i][0]))))
        return predictions

    def _head_prediction(self, head: str, probs: np.ndarray, order: np.ndarray) -> HeadPrediction:
        names = self.label_names_.get(head, {})
        entries = [{"label": str(self.classes_[head][j]), "name": names.get(str(self.classes_[head][j]),
                    str(self.classes_[head][j])), "confidence": round(float(probs[j]), 4)} for j in order]
        best = entries[0]
        return HeadPrediction(best["label"], best["name"], best["confidence"], entries[1:])

    def _reasons(self, word_row: sp.csr_matrix, opd_index: int) -> list[str]:
        """Word features of this text with the largest positive weight x value for the chosen OPD."""
        coef = self.heads_["opd"].coef_
        weights = coef[opd_index] if coef.shape[0] > 1 else (coef[0] if opd_index == 1 else -coef[0])
        contributions = word_row.data * weights[word_row.indices]
        order = np.argsort(-contributions)[: self.n_reasons]
        return [str(self.vocabulary_[word_row.indices[k]]) for k in order if contributions[k] > 0]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("validation_predictions_", None)  # only the training run's report needs them
        return state

    def describe(self) -> dict:
        """What the model card records about this model."""
        return {"params": self.get_params(), "labels": {h: [str(c) for c in self.classes_[h]] for h in HEADS},
                "rare_labels_not_learned": self.rare_labels_, "thresholds": self.thresholds_,
                "category_temperature": float(self.category_temperature_[0]),
                "opd_blend_weights": {"opd_margins": float(self.opd_weights_[0]),
                                      "category_implied": float(self.opd_weights_[1])},
                "validation": self.validation_}


def _fit_isotonic(confidence: np.ndarray, correct: np.ndarray, n_classes: int):
    """Maps a head's top probability to the observed chance that the top label is right.

    Never below 1/n_classes: the most likely of n labels is at least as likely as the others, even
    where the validation data's least confident rows happened to be all wrong.
    """
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=1.0 / max(n_classes, 1), y_max=1.0, out_of_bounds="clip").fit(
        confidence, correct.astype(float))


def _recalibrate(probs: np.ndarray, calibrator) -> np.ndarray:
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


def _indices(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Position of each label in `classes`, -1 for labels the head never learned."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(label, -1) for label in labels])


def _fit_weights(log_probs, target: np.ndarray, start: list[float]) -> np.ndarray:
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
