"""The workload file's protocol keys: headers, placeholders, [[setup]] with captures,
[invoke.success] as a SuccessRule, [poll], a POST [stream], [params] and the shipped presets.

Pure parsing and judging, no Locust run: the storms against real servers are in
tests/e2e/test_protocol_*.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stampede.loadtest.cli import main
from stampede.loadtest.observe.sampler import parse_client_metrics
from stampede.loadtest.storm.protocols import PRESETS, load_preset, parse_args, preset_text
from stampede.loadtest.storm.users.exchange import Answer, captured, encode
from stampede.loadtest.storm.users.placeholders import fill, fill_headers
from stampede.loadtest.storm.users.success import JsonCheck, judge
from stampede.loadtest.storm.users.workload import Workload, WorkloadError, parse_workload

FULL = """
[params]
tool = "echo"

[[setup]]
name = "initialize"
path = "/mcp"
headers = { Accept = "application/json, text/event-stream" }
body = { jsonrpc = "2.0", id = "{n}", method = "initialize" }
capture = { session = "header?:Mcp-Session-Id" }

[[setup]]
name = "task"
scope = "intent"
path = "/tasks/{agent}"
capture = { task = "json:result.id" }

[invoke]
path = "/mcp/{task}"
headers = { Mcp-Session-Id = "{session}", X-Key = "{key}" }
idempotency_header = ""
body = { id = "{n}", params = { name = "{param.tool}", text = "{prompt}", at = "{uuid}" } }
response = "sse"
capture = { job = "json:result.job" }

[invoke.success]
statuses = [200]
present = ["result"]
absent = ["result.error"]
equals = { "result.isError" = false }
one_of = { "result.state" = ["done", "ok"] }
sse_done = ["RUN_FINISHED"]
sse_failed = ["RUN_ERROR"]

[poll]
path = "/jobs/{job}"
until = "result.state"
done = ["done"]
failed = ["failed"]
interval_s = 0.05

[stream]
method = "POST"
path = "/run_sse"
body = { session = "{session}" }
"""


def test_every_key_parses_and_round_trips_to_the_locust_processes() -> None:
    workload = parse_workload(FULL, "api.toml", {"tool": "search"})
    assert [s.scope for s in workload.setup] == ["user", "intent"]
    assert workload.steps("intent")[0].capture == {"task": "json:result.id"}
    assert workload.invoke.idempotency_header == ""
    assert workload.invoke.body["params"]["name"] == "search"  # --protocol-arg beat [params]
    rule = workload.invoke.rule()
    assert rule.statuses == (200,) and rule.sse_failed == ("RUN_ERROR",)
    assert JsonCheck("result.isError", "equals", False) in rule.json
    assert JsonCheck("result.state", "one_of", ("done", "ok")) in rule.json
    assert workload.poll is not None and workload.poll.done == ("done",)
    assert workload.stream.method == "POST"
    assert Workload.from_json(workload.to_json()) == workload


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[invoke]\nbody = { a = "{agnet}" }\n',
            "invoke.body (line 2) uses an unknown placeholder {agnet}",
        ),
        (
            '[[setup]]\npath = "/s"\n\n[[setup]]\npath = "/x/{key}"\n',
            "setup[1].path (line 5) uses an unknown placeholder {key}",  # user scope: no intent
        ),
        ('[invoke]\nheaders = { "Bad Header" = "x" }\n', "invoke.headers (line 2) is not an HTTP"),
        ('[invoke]\nresponse = "xml"\n', "invoke.response (line 2) must be one of json, sse"),
        (
            '[[setup]]\ncapture = { s = "cookie:x" }\n',
            'setup[0].capture (line 2) s: must be "header',
        ),
        ('[[setup]]\nscope = "run"\n', "setup[0].scope (line 2) must be one of user, intent"),
        (
            '[[setup]]\nscope = "attempt"\ncapture = { s = "json:id" }\n\n'
            '[[setup]]\npath = "/{s}"\n',  # a user-scoped step cannot use an attempt's capture
            "setup[1].path (line 6) uses an unknown placeholder {s}",
        ),
        ("[invoke]\nsuccess = { maybe = [1] }\n", "invoke.success (line 2) maybe: unknown key"),
        ("[poll]\npath = '/p'\n", "poll (line 1) needs `until`"),
        (
            '[poll]\nuntil = "s"\npath = "/{task}"\n',
            "poll.path (line 3) uses an unknown placeholder",
        ),
        ('[invoke]\nbody = "{param.nope}"\n', "{param.nope} has no value in [params]"),
    ],
)
def test_a_bad_file_is_one_line_naming_key_and_line(text: str, message: str) -> None:
    with pytest.raises(WorkloadError) as caught:
        parse_workload(text, "api.toml", {})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_placeholders_fill_paths_headers_and_bodies() -> None:
    context = {"n": 7, "key": "k1", "session": ""}
    assert fill({"id": "{n}", "text": "id {n} of {key}"}, context) == {
        "id": 7,
        "text": "id 7 of k1",
    }
    # An empty value drops its header: a stateless MCP server hands out no session id.
    assert fill_headers({"Mcp-Session-Id": "{session}", "X": "{key}"}, context) == {"X": "k1"}
    request = parse_workload(FULL, "api.toml", {}).invoke
    sent = encode(request, {"task": "t9", "session": "s1", "key": "k", "prompt": "p", "n": 1,
                            "uuid": "u"}, {})  # fmt: skip
    assert sent["url"] == "/mcp/t9" and sent["headers"]["Mcp-Session-Id"] == "s1"
    assert json.loads(sent["data"])["params"] == {"name": "echo", "text": "p", "at": "u"}


def test_captures_from_headers_json_and_sse() -> None:
    sse = b'event: message\ndata: {"jsonrpc": "2.0", "result": {"id": "t1"}}\n\n'
    answer = Answer(200, sse, "text/event-stream", {"Mcp-Session-Id": "abc"})
    capture = {"session": "header:mcp-session-id", "task": "json:result.id"}
    assert captured(capture, answer) == {"session": "abc", "task": "t1"}
    assert captured({"x": "json:result.missing"}, answer) is None  # required: the step fails
    assert captured({"x": "header?:Nope"}, answer) == {"x": ""}


def test_the_protocols_own_answer_decides_success() -> None:
    mcp = load_preset("mcp", []).invoke.rule()
    error = b'data: {"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}\n\n'
    good = b'data: {"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}\n\n'
    rpc_error = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}'
    assert judge(mcp, 200, good, "text/event-stream", True).ok
    assert judge(mcp, 200, error, "text/event-stream", True).kind == "json_check"
    assert judge(mcp, 200, rpc_error, "application/json", True).kind == "jsonrpc_error"
    ag_ui = load_preset("ag-ui", []).invoke.rule()
    started = b'data: {"type":"RUN_STARTED"}\n\n'
    assert judge(ag_ui, 200, started + b'data: {"type":"RUN_FINISHED"}\n\n', "text/event-stream",
                 True).ok  # fmt: skip
    failed = judge(
        ag_ui, 200, started + b'data: {"type":"RUN_ERROR"}\n\n', "text/event-stream", True
    )
    assert failed.kind == "sse_failed"
    assert judge(ag_ui, 200, started, "text/event-stream", True).kind == "sse_unterminated"
    assert judge(ag_ui, 500, b"", "text/plain", True).kind == "http_500"


def test_every_preset_loads_and_takes_its_params() -> None:
    for name in PRESETS:
        workload = load_preset(name, [])
        assert Workload.from_json(workload.to_json()) == workload
        assert preset_text(name).startswith("#")
    adk = load_preset("adk", ["app=my_agent"])
    assert adk.setup[0].path == "/apps/my_agent/users/stampede/sessions"
    assert parse_args(['arguments={"q": "{prompt}"}', "tool=search"]) == {
        "arguments": {"q": "{prompt}"},
        "tool": "search",
    }
    with pytest.raises(WorkloadError, match="--protocol-arg nope: unknown"):
        load_preset("mcp", ["nope=1"])
    with pytest.raises(ValueError, match="write KEY=VALUE"):
        parse_args(["tool"])


def test_protocols_command_and_compare_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["protocols"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in PRESETS) and 'tool="echo"' in listed
    assert main(["protocols", "show", "a2a"]) == 0
    assert capsys.readouterr().out == preset_text("a2a")
    target = ["--target", "x=http://127.0.0.1:1", "--out", str(tmp_path)]
    cases = [
        (["protocols", "show", "soap"], "'soap': not a preset"),
        (["compare", *target, "--protocol", "soap"], "--protocol 'soap': must be one of"),
        (["compare", *target, "--protocol", "mcp", "--workload", "x.toml"], "give one"),
        (["compare", *target, "--protocol", "mcp", "--protocol-arg", "x=1"], "unknown (known:"),
        (["compare", "--protocol", "mcp", "--out", str(tmp_path)], "--protocol needs --target"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit):
            main(argv)
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, (argv, err)


def test_setup_successes_are_not_progress() -> None:
    """A wedged server that still creates sessions shows no answers, and no failures either."""
    text = (
        "# TYPE stampede_client_requests_total counter\n"
        'stampede_client_requests_total{variant="a",name="setup",outcome="setup_ok"} 12\n'
        'stampede_client_requests_total{variant="a",name="invoke",outcome="ok"} 3\n'
        'stampede_client_requests_total{variant="a",name="invoke",outcome="http_error"} 2\n'
    )
    parsed = parse_client_metrics(text)
    assert (parsed["client_requests"], parsed["client_ok"], parsed["client_failures"]) == (17, 3, 2)
