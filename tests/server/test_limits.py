"""The server's bounds over real HTTP: body cap (413), concurrency cap (503), 405 Allow, loopback.

The 100 MB POST runs against a server in a real memory-capped cgroup (loadtest.caps), and its
peak RSS is the kernel's own high-water mark (VmHWM), not a sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from stampede.loadtest.process.caps import CappedProcess, CapsRequest, probe_cgroups, start_capped
from stampede.server import cli as serve_cli
from stampede.server.settings import ServerSettings

from tests.serverproc import ROOT, free_port, running_server

MiB = 1 << 20
MEMORY_CAP = 256 * MiB
HUGE = 100 * 1000 * 1000  # the "100 MB"
PROMPT = {"prompt": "hello"}


def _peak_rss(pid: int) -> int:
    """The process's RSS high-water mark, from the kernel."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/pid/status")


needs_cgroups = pytest.mark.skipif(
    os.geteuid() != 0 or not probe_cgroups().method, reason="needs root and cgroups"
)


@contextlib.contextmanager
def capped_server(request: CapsRequest, *flags: str) -> Iterator[tuple[CappedProcess, str]]:
    """A real `stampede serve` in its own capped cgroup."""
    port = free_port()
    argv = [sys.executable, "-m", "stampede", "serve", "--port", str(port), *flags]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAMPEDE_")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with start_capped(argv, request, name="test-limits", env=env, cwd=str(ROOT), **quiet) as proc:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            assert proc.popen.poll() is None, "server exited early"
            time.sleep(0.1)
        yield proc, url


def _post_huge(port: int, *, chunked: bool) -> tuple[float, bytes]:
    """Stream a 100 MB body as fast as the server takes it; seconds until the answer, answer."""
    head = f"POST /v1/agents/a/invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "Content-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {HUGE}\r\n\r\n"
    piece = b'{"prompt": "hi", "pad": "' + b"a" * (256 * 1024 - 25)
    if chunked:
        piece = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        sock.setblocking(False)
        sent, pending = 0, b""
        while time.monotonic() - started < 10:
            readable, writable, _ = select.select([sock], [sock] if sent < HUGE else [], [], 1)
            if readable:
                break
            if writable:
                pending = pending or piece
                try:
                    n = sock.send(pending)
                except BlockingIOError:
                    continue
                except OSError:  # the server closed after answering: read the answer
                    break
                pending, sent = pending[n:], sent + n
        sock.setblocking(True)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return time.monotonic() - started, answer


@needs_cgroups
def test_100mb_post_gets_413_fast_with_rss_far_below_the_memory_cap() -> None:
    with capped_server(CapsRequest(memory_bytes=MEMORY_CAP)) as (proc, url):
        assert proc.enforced.get("memory_bytes") == MEMORY_CAP, proc.report()
        port = int(url.rsplit(":", 1)[1])
        for chunked in (False, True):
            elapsed, answer = _post_huge(port, chunked=chunked)
            assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
            assert b'"error": "payload_too_large"' in answer, answer
            assert elapsed < 1.0, (chunked, elapsed)
        # The server is still fine, and its peak RSS stayed under half the cap.
        after = httpx.post(f"{url}/v1/agents/a/invocations", json=PROMPT, timeout=5)
        assert after.status_code == 200
        peak = _peak_rss(proc.pid)
        assert peak < MEMORY_CAP // 2, f"peak RSS {peak / MiB:.0f} MiB"
        status = httpx.get(f"{url}/v1/status", timeout=5).json()
        assert status["limits"]["rejected"] == {"payload_too_large": 2}


@needs_cgroups
def test_a_duplicate_with_no_thread_to_park_gets_a_json_503() -> None:
    """A pids cap stops the to_thread waiter from starting workers: 503, never a bare 500."""
    flags = ["--executor-workers", "32", "--model-latency-ms", "1500", "--model-cycles", "1"]
    with capped_server(CapsRequest(pids=8), *flags) as (proc, url):
        assert proc.enforced.get("pids") == 8, proc.report()
        key = {"Idempotency-Key": "k"}

        async def storm() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                path = "/v1/agents/a/invocations"
                primary = asyncio.create_task(client.post(path, json=PROMPT, headers=key))
                await asyncio.sleep(0.3)
                duplicates = [client.post(path, json=PROMPT, headers=key) for _ in range(10)]
                return await asyncio.gather(primary, *duplicates)

        responses = asyncio.run(storm())
        assert responses[0].status_code == 200
        codes = {r.status_code for r in responses}
        assert codes == {200, 503}, [r.text for r in responses]
        refused = [r.json() for r in responses if r.status_code == 503]
        assert {body["error"] for body in refused} == {"no_worker_thread"}
        executor = httpx.get(f"{url}/v1/status", timeout=5).json()["executor"]
        # Nothing the refused duplicates queued runs later, parked for nobody.
        assert executor["busy"] == {"model": 0, "waiter": 0, "other": 0}
        assert executor["queued"] == 0


def test_body_cap_is_exact_and_405_carries_allow() -> None:
    with running_server(max_body_bytes=2048, model_latency_ms=1, model_cycles=1) as server:
        post = f"{server.url}/v1/agents/a/invocations"
        json_type = {"content-type": "application/json"}
        fits = b'{"prompt": "' + b"x" * (2048 - 14) + b'"}'
        assert len(fits) == 2048
        assert httpx.post(post, content=fits, headers=json_type, timeout=5).status_code == 200
        over = httpx.post(post, content=fits + b" ", headers=json_type, timeout=5)
        assert over.status_code == 413 and over.json()["error"] == "payload_too_large"
        # Without Content-Length (chunked): counted while it streams in.
        streamed = httpx.post(post, content=iter([fits, b" "]), headers=json_type, timeout=5)
        assert streamed.status_code == 413
        fits_streamed = httpx.post(post, content=iter([fits]), headers=json_type, timeout=5)
        assert fits_streamed.status_code == 200
        deep = httpx.post(post, content=b"[" * 2000, headers=json_type, timeout=5)
        assert deep.status_code == 400 and deep.json()["error"] == "bad_request"
        for method, path, allow in [
            ("GET", "/v1/agents/a/invocations", "POST"),
            ("TRACE", "/healthz", "GET"),
            ("DELETE", "/metrics", "GET"),
            ("POST", "/v1/agents/a/stream", "GET"),
        ]:
            response = httpx.request(method, f"{server.url}{path}", timeout=5)
            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == allow
            assert response.json()["error"] == "method_not_allowed"
        assert "Traceback" not in server.log()


def test_concurrency_cap_answers_503_and_spares_the_monitors() -> None:
    with running_server(max_concurrency=3, model_latency_ms=800, model_cycles=1) as server:

        async def storm() -> tuple[list[httpx.Response], int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                posts = [
                    asyncio.create_task(client.post(f"/v1/agents/a{i}/invocations", json=PROMPT))
                    for i in range(5)
                ]
                await asyncio.sleep(0.3)  # all five arrived: three run, two were refused
                health = await client.get("/healthz")
                return await asyncio.gather(*posts), health.status_code

        responses, health = asyncio.run(storm())
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 200, 200, 503, 503], codes
        assert health == 200
        for refused in (r for r in responses if r.status_code == 503):
            assert refused.json()["error"] == "overloaded"
            assert refused.headers["retry-after"] == "1"
        assert server.status()["limits"]["rejected"] == {"overloaded": 2}


def test_serve_refuses_a_non_loopback_host_without_allow_remote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        serve_cli.main(["--host", "0.0.0.0", "--port", "0"])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "stampede serve: error: --host '0.0.0.0': 0.0.0.0 is not a loopback address; "
        "pass --allow-remote to serve other machines"
    ]


@pytest.mark.parametrize("host", ["::", "192.0.2.1", "10.1.2.3"])
def test_remote_hosts_need_allow_remote(host: str) -> None:
    with pytest.raises(ValidationError, match="not a loopback address"):
        ServerSettings(host=host)
    assert ServerSettings(host=host, allow_remote=True).host == host
    for loopback in ("127.0.0.1", "127.8.9.10", "::1", "localhost"):
        assert ServerSettings(host=loopback).host == loopback
