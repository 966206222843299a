"""`--stream-impl claude-agent-sdk`: the real `query()` of each release behind the SSE stream.

Each release runs in its own cached venv (loadtest/targets/sdk_envs.py), the server started with
that venv's python and driven over loopback by raw-socket clients. The SDK talks to Stampede's
stand-in CLI transport, so no Claude CLI or API is involved. 0.1.50 (the last release before
PR #746) reports one cancel-scope RuntimeError per stream the server's own code leaves early
(`break` after k, or a background consumer stopped by a flag), and that leaked scope cancels
the consumer too; 0.1.51 and a current 0.2.x report none, whatever the pattern. A client that
hangs up (`relay`) and a cancelled background consumer (`cancel`) report none on any release.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from stampede.loadtest.targets.sdk_envs import ensure_env, parse_spec

from tests.serverproc import ServerProcess, running_server

# First use builds each venv (7-70 s each, depending on the machine's load).
pytestmark = pytest.mark.timeout(600)

BUGGY, FIXED, CURRENT = (
    "claude-agent-sdk==0.1.50",
    "claude-agent-sdk==0.1.51",
    "claude-agent-sdk==0.2.189",
)
PATTERNS = ("relay", "break", "flag", "cancel")
K = 3
RELAY_EVENTS = 100
CONCURRENCY = 16
IO_TIMEOUT_S = 10.0
# Short streams, fast: a dropped stream takes a few milliseconds.
STREAM_SETTINGS = {"stream_impl": "claude-agent-sdk", "stream_events": 8, "stream_interval_ms": 2}


@pytest.fixture(scope="module")
def envs() -> dict[str, Path]:
    return {spec: ensure_env(parse_spec(spec), print) for spec in (BUGGY, FIXED, CURRENT)}


async def one_stream(port: int, pattern: str) -> bytes:
    """relay: read K events and hang up; the other patterns: read to the end of the response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        path = f"/v1/agents/a/stream?consume={pattern}&break_after={K}"
        if pattern == "relay":  # long enough that the client always leaves before the end
            path += f"&events={RELAY_EVENTS}"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while True:
            chunk = await asyncio.wait_for(reader.read(16384), IO_TIMEOUT_S)
            data += chunk
            if not chunk or data.endswith(b"0\r\n\r\n"):
                return data
            if pattern == "relay" and data.count(b"\n\n") >= K:
                return data
    finally:
        writer.close()


async def streams(server: ServerProcess, pattern: str, n: int) -> list[bytes]:
    port = int(server.url.rsplit(":", 1)[1])
    gate = asyncio.Semaphore(CONCURRENCY)

    async def bounded() -> bytes:
        async with gate:
            return await one_stream(port, pattern)

    return await asyncio.gather(*(bounded() for _ in range(n)))


def run_patterns(server: ServerProcess, per_pattern: int) -> dict[str, dict[str, int]]:
    """Every pattern's counts after `per_pattern` streams each, once the server is quiet."""
    for pattern in PATTERNS:
        asyncio.run(streams(server, pattern, per_pattern))

    def settled(status: dict) -> bool:
        stream = status["hazards"]["stream"]
        return stream["live_consumers"] == 0 and all(
            p.get("started", 0) == per_pattern for p in stream["patterns"].values()
        )

    time.sleep(0.2)  # the last finalizer tasks
    status = server.wait_for(settled)
    stream = status["hazards"]["stream"]
    counts = {name: dict(p) for name, p in stream["patterns"].items()}
    counts["_total"] = dict(status["loop_errors"])
    counts["_sdk"] = stream["sdk"]  # type: ignore[assignment]
    return counts


def per_dropped(counts: dict[str, int], key: str) -> float:
    return counts.get(key, 0) / counts["dropped"]


def test_0_1_50_reports_one_cancel_scope_error_per_stream_left_early(
    envs: dict[str, Path],
) -> None:
    n = 60
    with running_server(envs[BUGGY], **STREAM_SETTINGS) as server:
        counts = run_patterns(server, n)
    assert counts["_sdk"] == "claude-agent-sdk 0.1.50"
    for pattern in ("break", "flag"):
        c = counts[pattern]
        assert c["dropped"] == n, c
        assert 0.9 <= per_dropped(c, "cancel_scope") <= 1.0, (pattern, c)
        # The leaked scope also cancels the consumer at its next await.
        assert 0.9 <= per_dropped(c, "consumer_cancelled") <= 1.0, (pattern, c)
    # break: the consumer is Starlette's streaming task, so its cancellation escapes the app.
    assert 0.9 <= per_dropped(counts["break"], "asgi_errors") <= 1.0, counts["break"]
    for pattern in ("relay", "cancel"):
        c = counts[pattern]
        assert c["dropped"] == n, c
        assert not {"cancel_scope", "consumer_cancelled", "asgi_errors"} & set(c), (pattern, c)
    # Every cancel-scope report was traced to its stream.
    traced = sum(counts[p].get("cancel_scope", 0) for p in PATTERNS)
    assert counts["_total"]["cancel_scope"] == traced


@pytest.mark.parametrize("spec", [FIXED, CURRENT])
def test_fixed_releases_report_nothing_for_any_pattern(spec: str, envs: dict[str, Path]) -> None:
    n = 200
    with running_server(envs[spec], **STREAM_SETTINGS) as server:
        counts = run_patterns(server, n)
    assert counts["_sdk"] == spec.replace("==", " ")
    for pattern in PATTERNS:
        c = counts[pattern]
        assert c["dropped"] == n, (pattern, c)
        assert not {"cancel_scope", "consumer_cancelled", "asgi_errors"} & set(c), (pattern, c)
    assert counts["_total"] == {}
