"""Prometheus metrics: requests by endpoint and status, latencies, predictions by OPD, reviews, model.

Under gunicorn every worker is a process, so counters live in PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py) and /metrics aggregates them; without it (tests, flask run) the default
in-process registry is used.
"""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               multiprocess)

from .drift import DriftCollector
from .errors import ErrorOut

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUESTS = Counter("laksa_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram("laksa_http_request_seconds", "HTTP request latency", ["endpoint", "status"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
PREDICTIONS = Counter("laksa_predictions_total", "Stored predictions by routed OPD", ["opd"])
NEEDS_REVIEW = Counter("laksa_predictions_needs_review_total", "Stored predictions flagged for review")
MODEL = Gauge("laksa_model_info", "The served model version (value 1)", ["version"], multiprocess_mode="liveall")


def record_predictions(predictions) -> None:
    for prediction in predictions:
        PREDICTIONS.labels(prediction.opd.label).inc()
        if prediction.needs_review:
            NEEDS_REVIEW.inc()


def set_model_version(version: str) -> None:
    """Mark `version` as this process's served model (1) and the ones it served before as no longer
    served (0): in multiprocess mode a gauge cannot be cleared, and `clear()` left them at 1."""
    for earlier in set(_SERVED) - {version}:
        MODEL.labels(earlier).set(0)
    MODEL.labels(version).set(1)
    _SERVED[:] = [v for v in _SERVED if v != version] + [version]


_SERVED: list[str] = []  # the versions this process has served, the current one last


def _report_model_version_after_fork() -> None:
    """A forked process (a gunicorn worker of a preloaded app) writes metrics files of its own:
    it reports the model it inherited, which otherwise only the master had written."""
    if _SERVED:
        set_model_version(_SERVED[-1])


os.register_at_fork(after_in_child=_report_model_version_after_fork)


def install_metrics(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _count(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        status = str(response.status_code)
        method = request.method if request.method in KNOWN_METHODS else "other"  # any client can invent one
        REQUESTS.labels(endpoint, method, status).inc()
        LATENCY.labels(endpoint, status).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    # This week's routing health comes from the database, the same for every worker.
    routing_health = CollectorRegistry()
    routing_health.register(DriftCollector(app))

    @app.get("/metrics", summary="Prometheus metrics", responses={200: {
        "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
        422: ErrorOut})
    def metrics():
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            from prometheus_client import REGISTRY as registry
        return Response(generate_latest(registry) + generate_latest(routing_health), mimetype=CONTENT_TYPE_LATEST)
