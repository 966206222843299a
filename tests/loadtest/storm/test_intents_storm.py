"""Intent accounting against a server whose answers are scripted, with a real Locust.

The scripted server answers by the intent number in the idempotency key (`...-rN`), so every
intent's fate is known in advance: the intents file and the harness's figures must match it
exactly. A second run checks the open model: starts on schedule (within 5% of the rate) while
every answer takes longer than the gap between starts, so a closed model could not keep up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from stampede.loadtest.storm.runner import LOCUSTFILE, stop_group
from stampede.loadtest.verdict.intents import read_intents, summarize

pytestmark = pytest.mark.slow
CLIENT_TIMEOUT = 0.4
HANG_S = 0.7


def script(n: int, attempt: int) -> tuple[int, float]:
    """(status, delay) of attempt `attempt` (1-based) of intent number n."""
    match n % 5:
        case 1:
            return 200, 0.01
        case 2:
            return (504, 0.01) if attempt == 1 else (200, 0.01)
        case 3:
            return 409, 0.01
        case 4:
            return 504, 0.01
        case _:
            return (200, HANG_S) if attempt == 1 else (200, 0.01)


EXPECTED = {  # n % 5 -> (outcome, kind, attempts)
    1: ("succeeded", None, 1),
    2: ("succeeded", None, 2),
    3: ("failed", "conflict", 1),
    4: ("timed_out", "duplicate_timeout", 3),
    0: ("succeeded", None, 2),
}


class Scripted(BaseHTTPRequestHandler):
    seen: Counter[str] = Counter()
    delay: float | None = None  # fixed delay for every answer (the open-model run)
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        key = self.headers.get("Idempotency-Key", "")
        with self.lock:
            self.seen[key] += 1
            attempt = self.seen[key]
        if self.delay is not None:
            status, delay = 200, self.delay
        else:
            status, delay = script(int(key.rsplit("-r", 1)[1]), attempt)
        time.sleep(delay)
        body = json.dumps({"role": "primary"} if status == 200 else {"error": "x", "message": "x"})
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
        except OSError:
            pass  # the client gave up (timeout): nothing to answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def scripted_server(delay: float | None = None) -> Iterator[tuple[str, Counter[str]]]:
    handler = type("Handler", (Scripted,), {"seen": Counter(), "delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def run_locust(tmp_path: Path, url: str, *args: str, run_time: int) -> Path:
    intents = tmp_path / "intents.jsonl"
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "IdempotencyStormUser",
        "--headless", "--run-time", f"{run_time}s", "--host", url, "--agents", "0",
        "--exit-code-on-error", "0", "--stop-timeout", "0", "--only-summary",
        "--intents-file", str(intents), *args,
    ]  # fmt: skip
    log = (tmp_path / "locust.log").open("wb")
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert proc.wait(timeout=run_time + 20) == 0, (tmp_path / "locust.log").read_text()
    finally:
        stop_group(proc, 2.0)
    return intents


def test_intent_outcomes_match_the_script(tmp_path: Path) -> None:
    with scripted_server() as (url, seen):
        path = run_locust(
            tmp_path, url, "--users", "1", "--spawn-rate", "1", "--duplicates", "1",
            "--client-timeout", str(CLIENT_TIMEOUT), "--retry-policy", "fixed",
            "--max-retries", "2", "--retry-base", "0.05", "--think-time", "0",
            run_time=4,
        )  # fmt: skip
        served = sum(seen.values())
    meta, rows = read_intents(path)
    assert meta["t0"] > 0 and meta["client_timeout"] == CLIENT_TIMEOUT
    closed = [r for r in rows if r["outcome"] != "cut"]
    assert len(closed) >= 10, rows  # every class of the script came round at least twice
    for row in closed:
        n = int(row["id"].rsplit("-r", 1)[1])
        outcome, kind, attempts = EXPECTED[n % 5]
        assert (row["outcome"], row["kind"], len(row["attempts"])) == (outcome, kind, attempts), row
        assert [a[0] for a in row["attempts"]] == ["primary"] + ["retry"] * (attempts - 1)
        if n % 5 == 0:  # the first attempt hung past the client timeout, the retry answered
            assert row["attempts"][0][3] == "client_timeout"
            assert row["succeeded"] - row["intended"] >= CLIENT_TIMEOUT

    figures = summarize(meta, rows, server_invocations=served)
    counted = [r for r in closed if r["outcome"] in ("succeeded", "failed", "timed_out")]
    want = Counter(EXPECTED[int(r["id"].rsplit("-r", 1)[1]) % 5][0] for r in counted)
    assert figures["succeeded"] == want["succeeded"]
    assert figures["timed_out"] >= want["timed_out"]  # plus a cut one that waited long enough
    assert figures["failed_by_kind"] == {"conflict": want["failed"]}
    sent = sum(len(r["attempts"]) for r in rows)
    ended = sum(1 for r in rows for a in r["attempts"] if a[2] is not None)
    assert figures["attempts"] == sent
    assert ended <= served <= sent  # the server saw every attempt that got an answer
    retries = sum(1 for r in rows for a in r["attempts"] if a[0] == "retry")
    assert figures["retry_ratio"] == round(retries / sent, 3)
    assert figures["latency_ms"]["max"] >= CLIENT_TIMEOUT * 1000  # from the intended start
    assert sum(figures["goodput_buckets"]) == figures["succeeded"]


def test_open_model_keeps_its_rate_while_answers_are_slow(tmp_path: Path) -> None:
    rate, seconds = 40.0, 5
    with scripted_server(delay=0.5) as (url, _):
        path = run_locust(
            tmp_path, url, "--users", "4", "--spawn-rate", "4", "--duplicates", "1",
            "--arrival-rate", f"{rate:g}", "--client-timeout", "2", "--retry-policy", "none",
            run_time=seconds,
        )  # fmt: skip
    meta, rows = read_intents(path)
    figures = summarize(meta, rows, planned_s=seconds)
    arrival = figures["arrival"]
    # 4 users closed-loop against 0.5 s answers would start at most 8 intents/s.
    assert abs(arrival["error_pct"]) <= 5, arrival
    assert arrival["dropped"] == 0 and not arrival["generator_limited"], arrival
    # Every intent that had a second before the stop got its (0.5 s) answer.
    early = [r for r in rows if r["intended"] < meta["stopped_at"] - 1.0]
    assert len(early) >= 0.9 * rate * (meta["stopped_at"] - meta["t0"] - 1.0)
    assert {r["outcome"] for r in early} == {"succeeded"}
    assert figures["latency_ms"]["p50"] >= 500
