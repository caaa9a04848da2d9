"""Load benchmark: POST /predict under gunicorn against a bare Flask app that only echoes JSON.

`python -m benchmarks.service_load [--model DIR] [--database-url URL] [--seconds 15] [--workers 2]`
trains the default model from data/labelled/ (unless --model), then starts, one after the other
and with the same gunicorn.conf.py and worker count, the bare echo app (benchmarks/echo_app.py)
and the real service (SQLite in a temporary folder unless --database-url). Each is driven on
loopback at 16 concurrent connections, after a warm-up, by `wrk` (Debian package `wrk`) with
benchmarks/service_load.lua, or by a Python load generator when wrk is missing. Then 10,000 texts
go through POST /predict/batch. Every complaint carries its own external_id, as from an intake
system, so the service's retry check is part of what is measured. Prints a table of both apps and
the figures beside their targets, and the ratio's ceiling: the ratio a service would reach if each
request cost the bare app's work plus one call of the model (timed here in-process) and nothing else.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from sqlalchemy import func, select

from benchmarks.common import ROOT, print_table
from classifier.dataset import load_labelled
from classifier.db import PredictionRecord, make_engine
from classifier.models_store import load_model, resolve_model_dir
from classifier.testing import SERVICE_APP, gunicorn_process

LABELLED = ROOT / "data" / "labelled"
LUA_SCRIPT = Path(__file__).with_name("service_load.lua")
BARE_APP = "benchmarks.echo_app:create_app()"
DRAIN_SECONDS = 2  # after its deadline wrk waits this long for requests in flight
REQUEST_TIMEOUT = 5


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.service_load", description=__doc__.split("\n")[0])
    parser.add_argument("--model",
                        help="model directory or models root to serve (default: train one from data/labelled/)")
    parser.add_argument("--database-url", help="SQLAlchemy URL, e.g. PostgreSQL (default: SQLite in a temp folder)")
    parser.add_argument("--seconds", type=float, default=15, help="measured load per app")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured load per app before that")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (one leaves the cores to gunicorn)")
    parser.add_argument("--workers", type=int, default=2, help="LAKSA_WORKERS for both apps")
    parser.add_argument("--batch-texts", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-concurrency", type=int, default=2, help="batch calls in flight at once")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk exists")
    return parser.parse_args(argv)


def train_model(out: Path) -> Path:
    print(f"training the default model from {LABELLED.relative_to(ROOT)}/ ...", flush=True)
    done = subprocess.run([sys.executable, "-m", "classifier.train", "--data", str(LABELLED), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"training failed:\n{done.stderr[-3000:]}")
    return out


def answers_predict(key: str):
    """Ready once POST /predict answers 200: the one route both apps have."""
    return lambda base: requests.post(f"{base}/predict", json={"text": "lampu jalan mati"}, headers={"X-API-Key": key},
                                      timeout=REQUEST_TIMEOUT).status_code == 200


def run_wrk(url: str, bodies: Path, key: str, seconds: float, args) -> dict:
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_API_KEY": key, "BENCH_SECONDS": str(seconds),
           "BENCH_ID_PREFIX": secrets.token_hex(4)}
    duration = int(np.ceil(seconds + DRAIN_SECONDS))
    done = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s",
                           f"--timeout={REQUEST_TIMEOUT}s", "--latency", "-s", str(LUA_SCRIPT), url],
                          env=env, capture_output=True, text=True, timeout=duration + 30)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    answered = raw["ok"] + raw["non_2xx"]
    return {"rps": answered / raw["seconds"], "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "ok": raw["ok"], "errors": raw["non_2xx"] + raw["socket_errors"], "unanswered": raw["sent"] - answered}


def run_python(url: str, bodies: Path, key: str, seconds: float, args, max_requests: int = 200_000) -> dict:
    """The fallback: one thread and requests.Session per connection, bounded by time and count."""
    payloads = [json.loads(line) for line in bodies.read_text(encoding="utf-8").splitlines()]
    prefix = secrets.token_hex(4)
    deadline = time.monotonic() + seconds

    def connection(index: int):
        latencies, ok, failed = [], 0, 0
        with requests.Session() as session:
            session.headers.update({"X-API-Key": key, "Content-Type": "application/json"})
            for n in range(index * 997, index * 997 + max_requests // args.connections):
                if time.monotonic() >= deadline:
                    break
                started = time.perf_counter()
                try:
                    body = {**payloads[n % len(payloads)], "external_id": f"{prefix}-{index}-{n}"}
                    status = session.post(url, json=body, timeout=REQUEST_TIMEOUT).status_code
                except requests.RequestException:
                    failed += 1
                    continue
                latencies.append(time.perf_counter() - started)
                ok, failed = (ok + 1, failed) if 200 <= status < 300 else (ok, failed + 1)
        return latencies, ok, failed

    started = time.monotonic()
    with ThreadPoolExecutor(args.connections) as pool:
        results = list(pool.map(connection, range(args.connections)))
    elapsed = time.monotonic() - started
    latencies = np.concatenate([r[0] for r in results]) * 1000
    ok, failed = sum(r[1] for r in results), sum(r[2] for r in results)
    return {"rps": (ok + failed) / elapsed, "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)), "ok": ok, "errors": failed, "unanswered": 0}


def drive(base: str, bodies: Path, key: str, args, count=lambda: 0) -> dict:
    """Warm up, then measure POST {base}/predict; `stored` is what `count()` grew by while measuring."""
    load = run_python if args.python_load else run_wrk
    load(f"{base}/predict", bodies, key, args.warmup, args)
    before = count()
    result = load(f"{base}/predict", bodies, key, args.seconds, args)
    return {**result, "stored": count() - before}


def count_predictions(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(PredictionRecord))
    finally:
        engine.dispose()


def run_batches(base: str, key: str, texts: list[str], args) -> tuple[float, int]:
    """Seconds to route `texts` through /predict/batch, and how many came back routed."""
    numbered = list(enumerate(texts))
    chunks = [numbered[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]

    def call(chunk: list[tuple[int, str]]) -> int:
        try:
            items = [{"text": text, "external_id": f"batch-{i}"} for i, text in chunk]
            answer = requests.post(f"{base}/predict/batch", json={"items": items},
                                   headers={"X-API-Key": key}, timeout=60)
        except requests.RequestException:
            return 0
        return len(answer.json()["items"]) if answer.status_code == 200 else 0

    started = time.perf_counter()
    with ThreadPoolExecutor(args.batch_concurrency) as pool:
        routed = sum(pool.map(call, chunks))
    return time.perf_counter() - started, routed


def measure(args, workdir: Path) -> dict:
    model = Path(args.model) if args.model else train_model(workdir / "model")
    database_url = args.database_url or f"sqlite:///{workdir / 'laksa.db'}"
    texts = load_labelled(LABELLED)["text"].tolist()
    bodies = workdir / "bodies.jsonl"  # one JSON body a line, for wrk's Lua script
    bodies.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    key = secrets.token_urlsafe(24)
    env = {**os.environ, "LAKSA_MODEL_DIR": str(model), "LAKSA_DATABASE_URL": database_url,
           "LAKSA_API_KEYS": key, "LAKSA_WORKERS": str(args.workers)}
    print(f"{len(texts)} texts from data/labelled/, {args.connections} connections, {args.workers} workers, "
          f"{args.seconds:g} s per app, load by {'Python' if args.python_load else 'wrk'}", flush=True)
    with gunicorn_process(env, workdir, BARE_APP, answers_predict(key)) as base:
        bare = drive(base, bodies, key, args)
    with gunicorn_process(env, workdir, SERVICE_APP, answers_predict(key)) as base:
        count = functools.partial(count_predictions, database_url)
        predict = drive(base, bodies, key, args, count)
        before = count()
        batch_texts = [texts[i % len(texts)] for i in range(args.batch_texts)]
        seconds, routed = run_batches(base, key, batch_texts, args)
        batch = {"texts": len(batch_texts), "seconds": seconds, "routed": routed, "stored": count() - before}
    return {"bare": bare, "predict": predict, "batch": batch, "model_ms": model_milliseconds(model, texts)}


def model_milliseconds(model_dir: Path, texts: list[str], calls: int = 2_000) -> float:
    """Median time of one single-text `predict`, as /predict calls it, after the service's warm-up."""
    model, _ = load_model(resolve_model_dir(model_dir))
    model.warm_up()
    times = []
    for text in texts[:calls]:
        started = time.perf_counter()
        model.predict([text])
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000


def report(result: dict) -> None:
    bare, predict, batch = result["bare"], result["predict"], result["batch"]
    # errors: non-2xx answers, socket errors and requests still unanswered when the load generator stopped
    print_table(["app", "requests/s", "p50 ms", "p99 ms", "errors"],
                [[name, f"{r['rps']:,.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", r["errors"] + r["unanswered"]]
                 for name, r in (("bare echo", bare), ("/predict", predict))])
    print()
    ratio = predict["rps"] / bare["rps"]
    errors = sum(r["errors"] + r["unanswered"] for r in (bare, predict))
    rows = [["/predict / bare throughput", f"{ratio:.2f}", ">= 0.60", ratio >= 0.60],
            ["/predict p99 ms", f"{predict['p99_ms']:.1f}", "<= 25", predict["p99_ms"] <= 25],
            ["errors (both apps)", errors, "0", errors == 0],
            ["stored predictions == /predict 2xx", f"{predict['stored']} == {predict['ok']}", "equal",
             predict["stored"] == predict["ok"]],
            [f"batch: {batch['texts']:,} texts, seconds", f"{batch['seconds']:.1f}", "<= 10", batch["seconds"] <= 10],
            ["batch: routed == stored == sent", f"{batch['routed']} == {batch['stored']} == {batch['texts']}",
             "equal", batch["routed"] == batch["stored"] == batch["texts"]]]
    print_table(["figure", "measured", "target", "met"], [[*row[:3], "yes" if row[3] else "NO"] for row in rows])
    # The machine's core time per bare request (wrk's share included), plus the model's own time.
    bare_ms = (os.cpu_count() or 1) * 1000 / bare["rps"]
    print(f"\nceiling of the ratio: one model call takes {result['model_ms']:.2f} ms and a bare request "
          f"{bare_ms:.2f} ms of core time, so even a service that did nothing but call the model would reach "
          f"{bare_ms / (bare_ms + result['model_ms']):.2f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.python_load and shutil.which("wrk") is None:
        print("wrk not found (apt-get install wrk): using the Python load generator", flush=True)
        args.python_load = True
    with tempfile.TemporaryDirectory(prefix="laksa-bench-") as workdir:
        result = measure(args, Path(workdir))
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
