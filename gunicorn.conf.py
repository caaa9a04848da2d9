"""gunicorn settings for the LAKSA service: `gunicorn -c gunicorn.conf.py 'classifier.serve:create_app()'`."""
import json
import os
import shutil
import tempfile

from gunicorn import util

bind = os.environ.get("LAKSA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("LAKSA_WORKERS", os.cpu_count() or 2))  # prediction is CPU-bound: one per core
worker_class = "sync"
preload_app = True  # load the model once; workers share its memory
timeout = 30
graceful_timeout = 20
accesslog = os.environ.get("LAKSA_ACCESS_LOG")  # e.g. "-" for stdout; off by default

# Workers are processes: Prometheus counters are shared through files in this folder.
_metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="laksa-metrics-"))
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def when_ready(server):
    """The master loaded the app (preload_app) but serves nothing: the model version it set at start-up
    is not for /metrics, which would show it long after the workers switched to another (each worker
    reports its own, see classifier.metrics)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid())


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own answer to a request it cannot parse (a garbled request line, headers over its limits),
    in the JSON body of every other error instead of its HTML page; the request never reaches the app."""
    body = json.dumps({"error": reason.lower().replace(" ", "_"), "message": mesg or reason,
                       "fields": [{"field": "request", "problem": mesg or reason}]}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin1") + body)


util.write_error = _json_error  # gunicorn has no setting for it; its workers call util.write_error
