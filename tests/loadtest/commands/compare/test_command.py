"""`stampede compare` arguments: bad values exit 2 naming the value and start nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest import cli


def main(argv: list[str]) -> int:
    return cli.main(argv)


BAD = [
    (["--variants", "to_thread,bogus"], "'bogus'"),
    (["--duration", "-5"], "'-5'"),
    (["--duration", "abc"], "'abc'"),
    (["--duration", "nan"], "'nan'"),
    (["--memory", "12Q"], "'12Q'"),
    (["--cpus", "0"], "'0'"),
    (["--users", "0"], "'0'"),
    (["--pids", "-1"], "'-1'"),
    (["--scenario", "nope"], "'nope'"),
    (["--retry-policy", "sometimes"], "'sometimes'"),
    (["--model-cycles", "0"], "'0'"),
]


@pytest.mark.parametrize(("argv", "named"), BAD)
def test_bad_value_exits_2_naming_it(
    argv: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    with pytest.raises(SystemExit) as exc:
        main(["compare", *argv, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stampede compare: error:"), err
    assert named in err and "\n" not in err, err
    assert not out.exists(), "a refused run must not create its results directory"


def test_real_entry_point_refuses_without_traceback(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "stampede", "compare", "--memory", "12Q", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "'12Q'" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()


def test_out_must_not_be_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(SystemExit):
        main(["compare", "--out", str(target)])
    assert "a-file" in capsys.readouterr().err
