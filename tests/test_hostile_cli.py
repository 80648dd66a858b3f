"""Hostile and careless use of the command line: one clear line, never a traceback.

Each case names the exact line (or the part of it that matters) a user sees, and the exit
status: 2 for a usage error, 1 for bad input, 3 for coordscope's own (a bug), 0 when there
is no error.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.exceptions import PanicException

from coordscope import cli
from coordscope.errors import MAX_SEED, ParameterError, check_seed, check_window
from tests.conftest import FIXTURES, run_cli

POSTS = FIXTURES / "generic" / "posts.csv"


def _run(*args: str | bytes, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line of a failed run (and nothing that looks like a traceback)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


# --------------------------------------------------------------------- no command at all


def test_no_arguments_prints_help_and_exits_2_without_traceback() -> None:
    proc = _run()
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "IndexError" not in proc.stderr
    assert "Usage" in proc.stdout + proc.stderr
    assert "audit" in proc.stdout + proc.stderr


# --------------------------------------------------------------------- option values


@pytest.mark.parametrize("window", ["inf", "-inf", "1e300", "nan", "-1", "3155760001"])
def test_audit_window_out_of_range_is_one_line(window: str, tmp_path: Path) -> None:
    proc = _run("audit", str(POSTS), "-o", str(tmp_path / "out"), "--window", window)
    assert proc.returncode == 2
    line = _one_error_line(proc)
    assert line.startswith("error: --window must be a finite number of seconds between 0 and "), (
        line
    )
    assert line.endswith(f"got {float(window)}"), line


@pytest.mark.parametrize("window", ["nan", "inf"])
def test_detect_window_nan_is_one_line(window: str, tmp_path: Path) -> None:
    proc = _run(
        "detect", str(POSTS), "-o", str(tmp_path / "out"), "--signal", "co_link", "--window", window
    )
    assert proc.returncode == 2
    assert "--window must be a finite number of seconds" in _one_error_line(proc)


@pytest.mark.parametrize("seed", ["99999999999999999999999", str(2**63)])
def test_audit_huge_seed_is_one_line(seed: str, tmp_path: Path) -> None:
    proc = _run("audit", str(POSTS), "-o", str(tmp_path / "out"), "--seed", seed)
    assert proc.returncode == 2
    assert _one_error_line(proc) == (
        f"error: --seed must be an integer between 0 and {MAX_SEED}, got {seed}"
    )


def test_window_and_seed_checks_by_hand() -> None:
    assert check_window(0) == 0.0
    assert check_window(3_155_760_000) == 3_155_760_000.0  # 100 years: the bound is inclusive
    for bad in (float("nan"), float("inf"), -0.5, 3_155_760_000.5, True, "60"):
        with pytest.raises(ParameterError, match="window must be"):
            check_window(bad)
    assert check_seed(MAX_SEED) == MAX_SEED
    for bad in (-1, MAX_SEED + 1, 1.0, False):
        with pytest.raises(ParameterError, match="seed must be an integer between 0 and"):
            check_seed(bad)


# --------------------------------------------------------------------- file names


def test_non_utf8_file_name_is_one_line(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/posts-\xff\x1b[2J.csv"
    with open(name, "wb") as handle:
        handle.write(POSTS.read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "coordscope", "audit", name, "-o", str(tmp_path / "out")],
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    stderr = proc.stderr.decode("utf-8")  # what reaches the terminal is valid UTF-8
    assert proc.returncode == 1
    assert "\x1b" not in stderr and "Traceback" not in stderr
    assert stderr.strip().endswith(
        "posts-\\udcff\\x1b[2J.csv: the file name is not valid UTF-8, which the Parquet and CSV "
        "readers need: rename the file"
    ), stderr


# --------------------------------------------------------------------- data on the terminal


def test_binary_header_in_an_error_is_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x1b]0;owned\x07\x1b[31mRED\x00,x\n1,2\n")
    proc = _run("audit", str(bad), "-o", str(tmp_path / "out"), "--format", "generic")
    assert proc.returncode == 1
    line = _one_error_line(proc)
    assert "\x1b" not in line and "\x07" not in line and "\x00" not in line
    assert "\\x1b]0;owned\\x07\\x1b[31mRED\\x00" in line


def test_cluster_table_escapes_control_characters_and_markup() -> None:
    clusters = pl.DataFrame(
        {
            "cluster": [1],
            "score": [0.9],
            "significant": [True],
            "size": [3],
            "n_keys": [2],
            "signals": [["co_hashtag"]],
            "qvalue": [0.001],
            "top_keys": [["#a\x1b[2J\x1b]0;title\x07", "[link=https://evil]x[/link]\u202e"]],
        }
    )
    console = cli._console(stderr=False)
    console.file = io.StringIO()
    console.width = 200
    old = cli._out
    cli._out = console
    try:
        cli._print_top_clusters(clusters)
    finally:
        cli._out = old
    text = console.file.getvalue()
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in text
    assert "#a\\x1b[2J\\x1b]0;title\\x07" in text
    assert "[link=https://evil]x[/link]\\u202e" in text  # printed as typed, not as a link
    # escaped before the table is laid out: every line of the table has the same width
    assert len({len(line) for line in text.splitlines()[1:]}) == 1, text


def test_safe_text_by_hand() -> None:
    assert cli.safe_text("ok ü 日本") == "ok ü 日本"
    assert cli.safe_text("a\rb\tc\x7f\x9b") == "a\\x0db\\x09c\\x7f\\x9b"
    assert cli.safe_text("x\u200by\u2066z\ufeff") == "x\\u200by\\u2066z\\ufeff"
    assert cli.safe_text("l1\nl2", keep_newlines=True) == "l1\nl2"


# --------------------------------------------------------------------- internal errors


def _main_with(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["coordscope", *argv])
    monkeypatch.delenv("COORDSCOPE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop:
        cli.main()
    code = stop.value.code
    assert isinstance(code, int)
    return code


def test_polars_panic_is_one_line_with_where_to_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def panic(*args: object, **kwargs: object) -> None:
        raise PanicException("index out of bounds: the len is 0 but the index is 0")

    monkeypatch.setattr("coordscope.runs.run_audit", panic)
    code = _main_with(["audit", str(POSTS), "-o", "unused"], monkeypatch)
    err = capsys.readouterr().err
    assert code == cli.INTERNAL_ERROR == 3
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        "error: unexpected PanicException: index out of bounds: the len is 0 but the index is 0"
        " — this is a bug in coordscope"
    )
    assert "COORDSCOPE_DEBUG=1" in err and "Reporting problems" in err


def test_unexpected_exception_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("x\x1b[2J")

    monkeypatch.setattr("coordscope.runs.run_audit", boom)
    assert _main_with(["audit", str(POSTS), "-o", "unused"], monkeypatch) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected KeyError: 'x\\x1b[2J' — this is a bug")


# --------------------------------------------------------------------- simulate, evaluate


def test_simulate_list_needs_no_output_folder() -> None:
    proc = _run("simulate", "--scenario", "list")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    assert "demo" in names and "organic" in names


def test_simulate_without_output_is_one_line() -> None:
    proc = _run("simulate", "--scenario", "demo")
    assert proc.returncode == 2
    assert _one_error_line(proc) == (
        "error: -o/--output is needed: the folder to write the data into"
    )


def test_evaluate_refuses_the_truth_of_another_dataset(tmp_path: Path) -> None:
    for name, seed in (("a", "1"), ("b", "2")):
        done = _run(
            "simulate", "--scenario", "demo", "--size", "tiny", "--seed", seed,
            "-o", str(tmp_path / name),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    audit = _run("audit", str(tmp_path / "a" / "events.parquet"), "-o", str(tmp_path / "out"))
    assert audit.returncode == 0, audit.stderr
    own = _run("evaluate", str(tmp_path / "out"), "--truth", str(tmp_path / "a" / "truth.parquet"))
    assert own.returncode == 0, own.stderr
    foreign_truth = tmp_path / "b" / "truth.parquet"
    proc = _run("evaluate", str(tmp_path / "out"), "--truth", str(foreign_truth))
    assert proc.returncode == 1
    n_truth = pl.read_parquet(foreign_truth)["actor_id"].n_unique()
    n_audit = pl.read_parquet(tmp_path / "a" / "events.parquet")["actor_id"].n_unique()
    assert _one_error_line(proc) == (
        f"error: {foreign_truth}: only 0 of its {n_truth:,} accounts are accounts of the audit "
        f"({n_audit:,}): the truth of another dataset, or of a pseudonymised audit?"
    )


# --------------------------------------------------------------------- odd input files


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "deep.json: could not be read: JSON nested"),
        (
            "deep.jsonl",
            b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"\n",
            "deep.jsonl: could not be read: JSON nested too deeply",
        ),
    ],
)
def test_odd_input_files_are_one_line(
    name: str, content: bytes, expected: str, tmp_path: Path
) -> None:
    (tmp_path / name).write_bytes(content)
    proc = _run("audit", name, "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1
    assert _one_error_line(proc).startswith(f"error: {expected}")


def test_a_folder_without_data_files_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "notes.md").write_text("not data")
    proc = _run("audit", "adir", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1
    assert _one_error_line(proc).startswith("error: adir: no data file in this folder")
    proc = _run("audit", "nothing-*.csv", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1
    assert _one_error_line(proc) == "error: nothing-*.csv: no file matches this pattern"


@pytest.mark.parametrize("command", ["audit", "ingest", "state"])
def test_non_utf8_output_paths_are_one_line(command: str, tmp_path: Path) -> None:
    bad = os.fsencode(tmp_path) + b"/out-\xff"
    args: list[str | bytes]
    if command == "state":
        args = ["audit", str(POSTS), "-o", str(tmp_path / "o"), "--state", bad]
        what = "--state"
    elif command == "ingest":
        args = ["ingest", str(POSTS), "-o", bad + b".parquet"]
        what = "--output"
    else:
        args = ["audit", str(POSTS), "-o", bad]
        what = "--output"
    proc = subprocess.run(
        [sys.executable, "-m", "coordscope", *args],
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1
    assert stderr.startswith(f"error: {what}: ") and "out-\\udcff" in stderr
    assert stderr.rstrip().endswith(
        "is not valid UTF-8, which the Parquet and CSV writers need: choose another name"
    )
