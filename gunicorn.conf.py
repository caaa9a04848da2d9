"""gunicorn settings for the LAKSA service: `gunicorn -c gunicorn.conf.py 'classifier.serve:create_app()'`."""
import os
import shutil
import tempfile

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
