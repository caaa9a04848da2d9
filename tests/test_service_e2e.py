"""The service as intake systems meet it: gunicorn in its own process, real HTTP on loopback."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from conftest import ROOT

KEY = "e2e-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(model_dir, database_url, port, extra_env=None):
    env = {**os.environ, "LAKSA_MODEL_DIR": str(model_dir), "LAKSA_DATABASE_URL": database_url,
           "LAKSA_API_KEYS": KEY, "LAKSA_BIND": f"127.0.0.1:{port}", "LAKSA_WORKERS": "2", **(extra_env or {})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "classifier.serve:create_app()"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stdout.read().decode())
        try:
            if requests.get(f"{base}/ready", timeout=1).status_code == 200:
                return process, base
        except requests.RequestException:  # not listening yet, or still loading
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("service did not become ready")


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture
def service(trained_model_dir, database_url):
    process, base = start_service(trained_model_dir, database_url, free_port())
    yield base
    stop(process)


def test_route_over_http_and_survive_bad_input(service):
    answer = requests.post(f"{service}/predict", json={"text": "lampu pju mati di jl imam bonjol"},
                           headers={"X-API-Key": KEY}, timeout=5)
    assert answer.status_code == 200 and answer.json()["opd"]["code"] == "DISHUB"
    bad = requests.post(f"{service}/predict", data=b"\xff\xfe garbage", headers={"X-API-Key": KEY,
                        "Content-Type": "application/json"}, timeout=5)
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/json")
    assert "Traceback" not in bad.text
    assert requests.get(f"{service}/health", timeout=5).json() == {"status": "ok"}


def test_metrics_add_up_across_workers(service):
    for _ in range(20):
        requests.post(f"{service}/predict", json={"text": "sampah belum diangkut"}, headers={"X-API-Key": KEY},
                      timeout=5)
    metrics = requests.get(f"{service}/metrics", timeout=5).text
    line = next(l for l in metrics.splitlines()
                if l.startswith('laksa_http_requests_total{endpoint="/predict",method="POST",status="200"}'))
    assert float(line.split()[-1]) == 20.0


def test_a_broken_model_stops_start_up_with_its_reason(tmp_path, trained_model_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_model_dir, broken)
    (broken / "model.joblib").write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="checksum"):
        start_service(broken, f"sqlite:///{tmp_path / 'x.db'}", free_port())
