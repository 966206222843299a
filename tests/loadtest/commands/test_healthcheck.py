"""`stampede healthcheck`, what the container healthchecks run: against real sockets on
loopback, 2xx exits 0; an error status, a refused or a silent port exits 1 with one line, the
silent one within its timeout; a bad URL or timeout exits 2."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from stampede.loadtest import cli


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    try:
        code = cli.main(["healthcheck", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err.splitlines()


def test_healthy_url_exits_0(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([f"{server}/healthz"], capsys) == (0, [])


def test_default_url_follows_stampede_port(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAMPEDE_PORT", server.rsplit(":", 1)[1])
    assert run([], capsys) == (0, [])


def test_error_status_exits_1_in_one_line(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run([f"{server}/down"], capsys)
    assert code == 1
    assert len(err) == 1 and err[0].endswith("/down: HTTP 503"), err


def test_refused_port_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        code, err = run([f"http://127.0.0.1:{port}/healthz"], capsys)
    assert code == 1 and len(err) == 1 and "refused" in err[0], err


def test_silent_server_fails_within_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # accepts into the backlog, never answers: a wedged server
        started = time.monotonic()
        code, err = run([f"http://127.0.0.1:{sock.getsockname()[1]}/", "--timeout", "0.3"], capsys)
        elapsed = time.monotonic() - started
    assert code == 1 and len(err) == 1 and "timed out" in err[0], err
    assert elapsed < 2, elapsed


@pytest.mark.parametrize(
    "argv", [["ftp://127.0.0.1/"], ["not a url"], ["http:///healthz"], ["--timeout", "0"]]
)
def test_bad_input_exits_2_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(argv, capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith("stampede healthcheck: error:"), err
