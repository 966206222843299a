"""The columns of one sample (samples.csv): what the sampler writes and every figure reads.

The sampler (observe/sampler.py) fills a row every 0.5 s; the run's writer (report/results.py)
and the figures (figures.py) read the same names, so they live here, below both.
"""

from __future__ import annotations

from stampede.probe.metrics import LOOP_ERROR_KINDS

# One column per kind the server counts in stampede_loop_errors_total{kind}, taken from the
# server's own list so every row and the CSV header have them, zero until the first report.
LOOP_ERROR_COLUMNS = [f"loop_errors_{kind}" for kind in LOOP_ERROR_KINDS]

COLUMNS = [
    "variant", "t_s", "wall_time",
    "threads", "rss_bytes", "cpu_percent", "open_fds", "process_threads",
    "executor_max_workers", "busy_model", "busy_waiter", "busy_other", "executor_queued",
    "event_loop_tasks", "waiters", "inflight_primaries", "orphaned_waiter_workers",
    "wedged", "stalled", "server_ok", "server_failed", "model_calls", "loop_errors",
    "duplicate_side_effects",
    "client_requests", "client_ok", "client_failures", "client_conflict", "client_timeout",
    "client_users", "client_rps", "client_failures_per_s",
    "server_scrape_ok", "client_scrape_ok",
    *LOOP_ERROR_COLUMNS,
    "processes", "executor_parked", "client_inflight", "probed",
    "ping_ms", "loop_ticks", "loop_ticks_on_time", "loop_lag_s", "loop_cpu_s",
    "anyio_tokens_total", "anyio_tokens_borrowed", "anyio_waiting_tasks", "pool_parked",
    "http_in_flight",
]  # fmt: skip
