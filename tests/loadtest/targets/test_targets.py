"""--target, --workload and their companions: every bad value is one line naming it, before
anything starts; good ones become launcher targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from stampede.loadtest.cli import main
from stampede.loadtest.process.launcher import CommandTarget, UrlTarget
from stampede.loadtest.storm.users.workload import Workload, WorkloadError, load_workload
from stampede.loadtest.targets.spec import parse_target, parse_targets


def test_command_and_url_targets() -> None:
    command = parse_target('before=uvicorn app:app --port {port} --log-level "warning"')
    assert command.kind == "command" and command.describe()["command"].startswith("uvicorn")
    target = command.launcher_target(None, "/healthz")
    assert isinstance(target, CommandTarget)
    assert target.argv[-3:] == ("{port}", "--log-level", "warning")
    assert target.split_stderr and target.tcp_fallback
    url = parse_target("mine=http://127.0.0.1:8000/")
    assert url.describe() == {"kind": "url", "url": "http://127.0.0.1:8000"}
    assert isinstance(url.launcher_target(None, "/healthz"), UrlTarget)
    assert parse_target("v6=http://[::1]:8000").kind == "url"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("noequals", "expected NAME=COMMAND"),
        ("a b=uvicorn app:app --port {port}", "name 'a b'"),
        ("x=uvicorn app:app --port 8000", "needs {port}"),
        ("x=http://10.0.0.5:8000", "not loopback"),
        ("x=http://example.com:8000", "not loopback"),
        ("x=http://127.0.0.1:8000/api", "no path"),
        ("x=http://127.0.0.1", "no path"),
        ('x=uvicorn "app:app --port {port}', "cannot split"),
    ],
)
def test_bad_targets_are_named(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_target(text)
    assert repr(text) in str(caught.value)


def test_remote_needs_the_flag_and_names_must_be_unique() -> None:
    assert parse_target("far=http://10.0.0.5:8000", allow_remote=True).kind == "url"
    with pytest.raises(ValueError, match="a repeats"):
        parse_targets(["a=http://127.0.0.1:1", "a=http://127.0.0.1:2"], False)


def test_workload_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(
        '[invoke]\nmethod = "put"\npath = "/agents/{agent}/run"\n'
        'body = { input = { text = "{prompt}" }, stream = false }\n'
        'idempotency_header = "X-Request-Id"\n\n[statuses]\nconflict = [423]\n'
    )
    workload = load_workload(path)
    assert workload.invoke.method == "PUT"
    assert workload.invoke_path("a1") == "/agents/a1/run"
    assert workload.invoke_body("hi") == {"input": {"text": "hi"}, "stream": False}
    assert workload.status_outcome(423) == "conflict" and workload.status_outcome(409) is None
    assert Workload.from_json(workload.to_json()) == workload
    assert Workload.from_json("") == Workload()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[invoke]\nmethod = 'POST'\nverb = 'x'\n", "invoke.verb (line 3) unknown key"),
        ("[invoke]\n\npath = 'no-slash'\n", "invoke.path (line 3) must start with '/'"),
        ("[statuses]\nconflict = [409, 'x']\n", "statuses.conflict (line 2) must be a list"),
        ("[invoke]\nmethod = 'FETCH'\n", "invoke.method (line 2) must be one of"),
        ("[invoke]\nidempotency_header = 'Bad Header'\n", "(line 2) is not an HTTP header"),
        ("[session]\ninitialize = 3\n", "session.initialize (line 2) must be a table"),
        ("[nope]\nx = 1\n", "nope (line 1) unknown table"),
        ("[invoke\n", "not valid TOML"),
    ],
)
def test_bad_workload_is_one_line_naming_key_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "api.toml"
    path.write_text(text)
    with pytest.raises(WorkloadError) as caught:
        load_workload(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_cli_refuses_bad_target_flags_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[stream]\npath = 5\n")
    cases = [
        (["--target", "x=http://10.1.2.3:80"], "not loopback"),
        (["--target", "x=http://127.0.0.1:1", "--variants", "future"], "drop --variants"),
        (["--workload", str(bad_toml)], "--workload needs --target"),
        (["--target", "x=http://127.0.0.1:1", "--workload", str(bad_toml)], "stream.path"),
        (["--target", "x=http://127.0.0.1:1", "--stall-seconds", "0"], "--stall-seconds '0'"),
        (["--target", "x=http://127.0.0.1:1", "--health-path", "up"], "--health-path 'up'"),
        (["--locust-workers", "-1"], "--locust-workers '-1'"),
    ]
    for flags, message in cases:
        with pytest.raises(SystemExit) as exited:
            main(["compare", "--out", str(out), *flags])
        err = capsys.readouterr().err.strip()
        assert exited.value.code == 2, flags
        assert message in err and err.count("\n") == 0, err
    assert not out.exists()
