"""The service as intake systems meet it: gunicorn in its own process, real HTTP on loopback."""
import contextlib
import json
import os
import socket

import pytest
import requests

from classifier.testing import gunicorn_process

KEY = "e2e-key"


@contextlib.contextmanager
def running_service(model_dir, database_url, workdir, extra_env=None):
    """The service with two workers, answering /ready; yields its base URL."""
    env = {**os.environ, "LAKSA_MODEL_DIR": str(model_dir), "LAKSA_DATABASE_URL": database_url,
           "LAKSA_API_KEYS": KEY, "LAKSA_WORKERS": "2", **(extra_env or {})}
    with gunicorn_process(env, workdir) as base:
        yield base


@pytest.fixture
def service(trained_model_dir, database_url, tmp_path):
    with running_service(trained_model_dir, database_url, tmp_path) as base:
        yield base


def test_route_over_http_and_survive_bad_input(service):
    answer = requests.post(f"{service}/predict", json={"text": "lampu pju mati di jl imam bonjol"},
                           headers={"X-API-Key": KEY}, timeout=5)
    assert answer.status_code == 200 and answer.json()["opd"]["code"] == "DISHUB"
    bad = requests.post(f"{service}/predict", data=b"\xff\xfe garbage", headers={"X-API-Key": KEY,
                        "Content-Type": "application/json"}, timeout=5)
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/json")
    assert "Traceback" not in bad.text
    for raw in (b"GARBAGE\r\n\r\n", b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"):
        status, headers, body = raw_exchange(service, raw)  # refused by gunicorn itself, before the app
        assert status in (400, 431) and "application/json" in headers, headers
        assert json.loads(body)["error"] and json.loads(body)["fields"][0]["field"] == "request"
    assert requests.get(f"{service}/health", timeout=5).json() == {"status": "ok"}


def raw_exchange(base: str, request: bytes) -> tuple[int, str, bytes]:
    """Bytes no HTTP client would send, and the status, header block and body of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin1"), body


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
        with running_service(broken, f"sqlite:///{tmp_path / 'x.db'}", tmp_path):
            pass


def test_sign_in_limits_are_shared_by_workers_through_redis(tmp_path, trained_model_dir):
    redis = pytest.importorskip("redis")
    shared = "redis://127.0.0.1:6379/7"  # a database of its own, emptied first
    try:
        redis.Redis.from_url(shared).flushdb()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    wrong = {"Authorization": "Basic YnVkaTpzYWxhaA=="}  # budi:salah
    with running_service(trained_model_dir, f"sqlite:///{tmp_path / 'x.db'}", tmp_path,
                         {"LAKSA_RATELIMIT_STORAGE_URI": shared}) as base:
        # A new connection each time, so both workers answer; each alone would allow 5 guesses.
        answers = [requests.get(f"{base}/review", headers=wrong, timeout=5).status_code for _ in range(12)]
    assert answers == [401] * 5 + [429] * 7
