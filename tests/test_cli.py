"""The command line: files written, summaries printed, user errors as one line + exit 1."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from coordscope.cli import app
from tests.conftest import FIXTURES

runner = CliRunner()
COMMANDS = ["ingest", "simulate"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a user runs it (error handling included)."""
    return subprocess.run(
        [sys.executable, "-m", "coordscope", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert len(result.output) > 200


def test_ingest_writes_events_rejects_and_json(tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    result = runner.invoke(
        app, ["ingest", str(FIXTURES / "generic" / "posts.csv"), "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # posts.csv: 9 rows; p5 (no actor), p6 (bad time), p7 (bad kind) are records 5-7 and
    # rejected; the second p1 is a duplicate; p1-p4 and p8 are accepted
    assert summary["rows"] == {"input": 9, "accepted": 5, "rejected": 3, "duplicates": 1}
    assert summary["inputs"][0]["format"] == "generic"
    assert summary["inputs"][0]["detected"] is True
    events = pl.read_parquet(out)
    assert events.height == 5
    rejects = pl.read_csv(tmp_path / "events.rejects.csv")
    assert rejects.columns == ["source", "record", "reason"]
    assert rejects["record"].to_list() == [5, 6, 7]
    assert summary["rejects_file"] == str(tmp_path / "events.rejects.csv")


def test_ingest_map_option_and_human_summary(tmp_path: Path) -> None:
    out = tmp_path / "ev.csv"
    result = runner.invoke(
        app,
        [
            "ingest", str(FIXTURES / "generic" / "mapped.tsv"), "--format", "generic",
            "--map", "actor_id=user", "--map", "ts=when", "--map", "object_id=shared",
            "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 input = 2 accepted + 0 rejected + 0 duplicates" in result.output
    table = pl.read_csv(out)
    assert table["kind"].to_list() == ["post", "repost"]
    assert not (tmp_path / "ev.rejects.csv").exists()


def test_ingest_several_formats_at_once(tmp_path: Path) -> None:
    out = tmp_path / "ev.parquet"
    result = runner.invoke(
        app,
        ["ingest", str(FIXTURES / "cnt" / "small.csv"), str(FIXTURES / "coortweet" / "narrow.csv"),
         "-o", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [i["format"] for i in summary["inputs"]] == ["cnt", "coortweet"]
    assert summary["rows"]["input"] == 9  # small.csv has 4 rows, narrow.csv 5


#: The cases below that are usage errors (exit 2), not input errors (exit 1).
USAGE_ERRORS = {
    "--map expects COL=FIELD",
    "'who' is not a canonical column",
    "unsupported extension",
    "--memory must be at least",
    "--max-inflate must be",
    "No such option: --bogus",
    "unknown scenario 'nope'",
    "--edge-weight must be a quantile in [0, 1], got 2.0",
    "--alpha must be between 0 and 1",
    "--mode must be one",
}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "missing.csv", "-o", "x.parquet"], "missing.csv: no such file"),
        (["ingest", "GEN", "-o", "x.parquet", "--format", "xml"], "unknown format 'xml'"),
        (["ingest", "GEN", "-o", "x.parquet", "--map", "actorid"], "--map expects COL=FIELD"),
        (
            ["ingest", "GEN", "-o", "x.parquet", "--map", "who=user"],
            "'who' is not a canonical column",
        ),
        (["ingest", "GEN", "-o", "x.xlsx"], "unsupported extension"),
        (["ingest", "TRUNC", "-o", "x.parquet"], "corrupt or truncated gzip"),
        (
            ["ingest", "NOTJSON", "-o", "x.parquet", "--format", "generic"],
            "no line is a JSON object",
        ),
        (["ingest", "WRONGCOLS", "-o", "x.parquet"], "could not recognise the format"),
        (["ingest", "WRONGCOLS", "-o", "x.parquet", "--format", "cnt"], "expected 8 columns"),
        (["ingest", "GEN", "-o", "x.parquet", "--memory", "1KB"], "--memory must be at least"),
        (["ingest", "GEN", "-o", "x.parquet", "--max-inflate", "0.5"], "--max-inflate must be"),
        (["ingest", "--bogus"], "No such option: --bogus"),
        (["simulate", "--scenario", "nope", "-o", "out"], "unknown scenario 'nope'"),
        # the API names its parameters; the CLI names the flags the user typed
        (
            [
                "detect",
                "GEN",
                "-s",
                "co_share",
                "--mode",
                "coortweet",
                "--edge-weight",
                "2",
                "-o",
                "out",
            ],
            "--edge-weight must be a quantile in [0, 1], got 2.0",
        ),
        (["audit", "GEN", "--alpha", "2", "-o", "out"], "--alpha must be between 0 and 1"),
        (["detect", "GEN", "-s", "co_share", "--mode", "fast", "-o", "out"], "--mode must be one"),
    ],
)
def test_user_errors_are_one_line_with_their_exit_status(
    tmp_path: Path, args: list[str], message: str
) -> None:
    trunc = tmp_path / "cut.csv.gz"
    data = gzip.compress((FIXTURES / "generic" / "posts.csv").read_bytes() * 100)
    trunc.write_bytes(data[: len(data) // 2])
    notjson = tmp_path / "bad.jsonl"
    notjson.write_text("{oops\n")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("alpha,beta\n1,2\n")
    subst = {
        "GEN": str(FIXTURES / "generic" / "posts.csv"),
        "TRUNC": str(trunc),
        "NOTJSON": str(notjson),
        "WRONGCOLS": str(wrong),
        "x.parquet": str(tmp_path / "x.parquet"),
        "x.xlsx": str(tmp_path / "x.xlsx"),
        "out": str(tmp_path / "out"),
    }
    proc = _run(*[subst.get(a, a) for a in args])
    # 2: the command line is wrong (click's convention); 1: the input is
    assert proc.returncode == (2 if message in USAGE_ERRORS else 1), proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_simulate_then_ingest_every_format(tmp_path: Path) -> None:
    from coordscope.datasets.formats import FORMAT_NAMES

    for name in FORMAT_NAMES:
        folder = tmp_path / name
        result = runner.invoke(
            app, ["simulate", "--scenario", "demo", "--size", "tiny", "--seed", "3",
                  "--format", name, "-o", str(folder), "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, (name, result.output)
        summary = json.loads(result.stdout)
        events_file = Path(summary["files"]["events"])
        assert events_file.exists() and (folder / "truth.parquet").exists()
        if name == "generic":  # the content is what the name says
            assert events_file.read_bytes()[:4] == b"PAR1"
        assert not list(folder.glob(".*tmp*")), "no temporary file is left behind"
        out = folder / "events.parquet" if name != "generic" else folder / "read.parquet"
        ingested = runner.invoke(app, ["ingest", str(events_file), "-o", str(out), "--json"])
        assert ingested.exit_code == 0, (name, ingested.output)
        got = json.loads(ingested.stdout)
        assert got["inputs"][0]["format"] == name, name
        assert got["rows"]["rejected"] == 0, (name, got["rows"])
        assert got["rows"]["accepted"] > 0
        # detect reads every format directly
        detected = runner.invoke(
            app,
            ["detect", str(events_file), "-s", "co_post", "-w", "5", "-o", str(folder / "d"),
             "--json"],
        )  # fmt: skip
        assert detected.exit_code == 0, (name, detected.output)
        assert json.loads(detected.stdout)["counts"]["edges"] > 0, name
