"""A WSGI app under gunicorn.conf.py in a child process, as the end-to-end tests and the load
benchmark run the service: on a free loopback port, waited for until ready, always stopped."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import requests

from .config import ROOT

SERVICE_APP = "classifier.serve:create_app()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_ready(base: str) -> bool:
    return requests.get(f"{base}/ready", timeout=5).status_code == 200


@contextlib.contextmanager
def gunicorn_process(env: dict, workdir: Path, app: str = SERVICE_APP,
                     ready: Callable[[str], bool] = answers_ready, timeout: float = 120):
    """Run `app` with `env`; yield its base URL once `ready(base)` holds. Its output goes to a log
    in `workdir`, whose end is the error if gunicorn exits before it is ready."""
    name = app.split(":")[0].replace(".", "-")
    env = {**env, "LAKSA_BIND": f"127.0.0.1:{free_port()}",
           "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{name}")}  # this run's counters only
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://{env['LAKSA_BIND']}"
            _wait_until(ready, process, base, log_path, timeout)
            yield base
        finally:
            stop(process)


def _wait_until(ready, process, base: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):  # not listening yet, or still loading
            if ready(base):
                return
        time.sleep(0.2)
    raise RuntimeError(f"{base} was not ready within {timeout:.0f} s")


def stop(process, timeout: float = 30) -> None:
    """SIGTERM to the gunicorn master (it stops its workers); SIGKILL to its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the master and its workers only
    process.wait(timeout=5)
