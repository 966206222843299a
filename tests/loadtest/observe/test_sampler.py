"""The sampler against a real server: every column it promises, read while the server wedges;
a dead client exporter costs its columns, never the sample."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from stampede.loadtest.observe.sampler import Sampler, parse_server_metrics
from stampede.loadtest.process.processes import free_port
from stampede.loadtest.verdict.samples import COLUMNS
from stampede.probe.metrics import LOOP_ERROR_KINDS

from tests.serverproc import running_server


def _invoke(url: str, key: str) -> None:
    # A wedged server never answers; the server's stop below aborts these.
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(
            f"{url}/v1/agents/a1/invocations",
            json={"prompt": "hi"},
            headers={"Idempotency-Key": key},
            timeout=8,
        )


def test_sample_of_a_wedging_server() -> None:
    with (
        running_server(waiter="to_thread", executor_workers=2, model_latency_ms=300) as server,
        ThreadPoolExecutor(max_workers=3) as pool,
    ):
        dead_exporter = f"http://127.0.0.1:{free_port()}/metrics"
        sampler = Sampler("to_thread", server.proc.pid, server.url, dead_exporter, time.monotonic())
        try:
            baseline = sampler.sample()
            pool.submit(_invoke, server.url, "k")  # the primary ...
            time.sleep(0.1)
            for _ in range(2):  # ... and as many duplicates as the pool has workers
                pool.submit(_invoke, server.url, "k")
            row = baseline
            deadline = time.monotonic() + 30  # a bound, not a wait: the loop ends at the wedge
            while not row.get("wedged") and time.monotonic() < deadline:
                time.sleep(0.2)
                row = sampler.sample()
            # The dead exporter cost its columns, not the sample: each scrape is bounded by
            # SCRAPE_TIMEOUT_S, so the client scrape failed fast instead of httpx's 5 s default.
            assert row["client_scrape_ok"] == 0 and row["server_scrape_ok"] == 1
        finally:
            sampler.close()
            server.stop()

    assert baseline["wedged"] == 0 and baseline["busy_waiter"] == 0
    assert set(row) <= set(COLUMNS)
    assert row["wedged"] == 1
    assert row["executor_max_workers"] == 2
    assert row["busy_waiter"] == 2, row  # every worker parked by a waiter
    assert row["waiters"] == 2 and row["inflight_primaries"] == 1
    assert row["executor_queued"] >= 1  # the primary's second model call
    assert row["threads"] > 2 and row["rss_bytes"] > 10 << 20 and row["open_fds"] > 0
    assert row["server_scrape_ok"] == 1 and row["client_scrape_ok"] == 0
    assert "client_requests" not in row
    # One column per loop-error kind the server counts, in every row and in COLUMNS.
    for sample in (baseline, row):
        assert {f"loop_errors_{k}" for k in LOOP_ERROR_KINDS} <= set(sample)
        assert all(sample[f"loop_errors_{k}"] == 0 for k in LOOP_ERROR_KINDS)


def test_parse_server_metrics_reads_loop_errors_and_tasks() -> None:
    with running_server(waiter="future") as server:
        values = parse_server_metrics(httpx.get(f"{server.url}/metrics", timeout=5).text)
    assert values["executor_max_workers"] >= 1
    assert values["wedged"] == 0 and values["busy_waiter"] == 0
    assert values["process_threads"] >= 1 and values["event_loop_tasks"] >= 1
    assert set(values["loop_errors_by_kind"]) >= {"task_destroyed_pending", "other"}
    assert values["loop_errors"] == 0
    assert values["tasks_by_name"], "stampede_event_loop_tasks_by_name not parsed"
    assert all(values[f"loop_errors_{k}"] == 0 for k in values["loop_errors_by_kind"])


def test_loop_error_columns_follow_the_counter() -> None:
    # Exposition text as the server writes it: each kind's count lands in its own column.
    text = (
        "# TYPE stampede_loop_errors_total counter\n"
        'stampede_loop_errors_total{kind="cancel_scope"} 3.0\n'
        'stampede_loop_errors_total{kind="task_destroyed_pending"} 5.0\n'
        'stampede_loop_errors_total{kind="other"} 1.0\n'
    )
    values = parse_server_metrics(text)
    assert values["loop_errors_cancel_scope"] == 3
    assert values["loop_errors_task_destroyed_pending"] == 5
    assert values["loop_errors_other"] == 1
    assert values["loop_errors_task_exception_never_retrieved"] == 0  # not exported yet
    assert values["loop_errors"] == 9
    assert [c for c in COLUMNS if c.startswith("loop_errors_")] == [
        f"loop_errors_{k}" for k in LOOP_ERROR_KINDS
    ]
