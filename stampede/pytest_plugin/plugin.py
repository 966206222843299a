"""The `pytest11` entry point: Stampede's options, marker and fixture, nothing else at import.

pytest imports this module in every session of every environment that has Stampede installed,
so it imports only pytest and the standard library. `--stampede` (or `enabled = true` under
`[tool.stampede.pytest]`) loads and registers the checks (checks.py); the `stampede_storm`
fixture loads the storm (storm.py, which brings Locust's and the harness's imports) the first
time a test uses it. Those two imports sit inside functions on purpose: that is what "costs
nothing otherwise" means.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from stampede.pytest_plugin import config as pyproject

CHECKS_PLUGIN = "stampede-checks"
STORM_FAILURE = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stampede", "Stampede: concurrency hazard checks and storms")
    group.addoption(
        "--stampede",
        action="store_true",
        default=None,
        help="fail each test that leaves tasks pending, threads running, workers parked, "
        "logs loop errors, blocks its loop or wedges its default executor "
        "(also [tool.stampede.pytest] enabled = true)",
    )
    group.addoption(
        "--no-stampede",
        action="store_false",
        dest="stampede",
        help="turn the checks off even if pyproject.toml turns them on",
    )
    group.addoption(
        "--stampede-block-ms",
        type=float,
        default=None,
        metavar="MS",
        help="a callback holding the loop this long is a finding (default 200)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "stampede(target, **options): storm TARGET (an ASGI app 'module:attr', a command "
        "with {port}, or a loopback URL) for a few seconds before the test and fail it on the "
        "verdict; the test gets the summary from the stampede_storm fixture",
    )
    try:
        settings = pyproject.load(config.rootpath)
    except pyproject.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    option = config.getoption("stampede")
    enabled = settings.enabled if option is None else option
    if not enabled:
        return
    block_ms = config.getoption("stampede_block_ms")
    if block_ms is not None:
        if not 1 <= block_ms <= 60_000:
            raise pytest.UsageError(f"--stampede-block-ms {block_ms:g}: must be 1 to 60000")
        settings.block_ms = block_ms
    # Only now: the checks import the probe (psutil, prometheus-client).
    checks = importlib.import_module("stampede.pytest_plugin.checks")
    plugin = checks.SuiteChecks(settings)
    plugin.start()
    config.pluginmanager.register(plugin, CHECKS_PLUGIN)


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(CHECKS_PLUGIN)
    if plugin is not None:
        plugin.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A marked test whose storm failed fails here, as the test, before its body runs."""
    text = item.stash.get(STORM_FAILURE, None)
    if text is not None:
        pytest.fail(text, pytrace=False)
    return (yield)


@pytest.fixture
def stampede_storm(request: pytest.FixtureRequest) -> Any:
    """With `@pytest.mark.stampede(target, ...)`: the storm's summary (run before the test).
    Without: a function, `stampede_storm(target, **options)`, that storms and returns it.
    Either way a storm whose verdict fails fails the test, in the verdict's own words."""
    storm = importlib.import_module("stampede.pytest_plugin.storm")  # Locust, only now
    marker = request.node.get_closest_marker("stampede")
    out = request.getfixturevalue("tmp_path") / "stampede"
    if marker is not None:  # the storm runs now; its verdict fails the test's call
        kwargs = dict(marker.kwargs)
        target = marker.args[0] if marker.args else kwargs.pop("target", None)
        if not isinstance(target, str) or len(marker.args) > 1:
            pytest.fail("@pytest.mark.stampede(target, **options): one target string", False)
        result = storm.checked_storm(target, out=out, **kwargs)
        request.node.stash[STORM_FAILURE] = storm.failure(target, result)
        return result

    def run(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("out", out)
        return storm.storm_or_fail(*args, **kwargs)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked `stampede` storms even if it does not ask for the summary."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker("stampede") is not None
        if marked and names is not None and "stampede_storm" not in names:
            names.append("stampede_storm")
