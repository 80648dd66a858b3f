"""Progress and logs: the tasks long loops report, the bars, --quiet and --verbose."""

from __future__ import annotations

import json
import logging
import os
import re
import select
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

import coordscope
from coordscope import progress
from coordscope.budget import MIN_MEMORY, Budget
from coordscope.datasets.ingest import ingest
from coordscope.progress import LogfmtFormatter, log, logfmt, showing, track
from tests.conftest import ROOT, run_cli


@dataclass
class Shown:
    """One task as a display saw it."""

    label: str
    total: float | None
    unit: str
    updates: list[float] = field(default_factory=list)
    ended: bool = False


class Recorder:
    """A display that keeps every task it was shown."""

    def __init__(self) -> None:
        self.tasks: dict[int, Shown] = {}
        self.lock = threading.Lock()

    def begin(self, key: int, label: str, total: float | None, unit: str) -> None:
        with self.lock:
            self.tasks[key] = Shown(label, total, unit)

    def update(self, key: int, done: float) -> None:
        with self.lock:
            self.tasks[key].updates.append(done)

    def end(self, key: int) -> None:
        with self.lock:
            self.tasks[key].ended = True

    def by_label(self) -> dict[str, list[tuple[float | None, str, list[float], bool]]]:
        out: dict[str, list[tuple[float | None, str, list[float], bool]]] = {}
        for t in self.tasks.values():
            out.setdefault(t.label, []).append((t.total, t.unit, t.updates, t.ended))
        return out


# --- the library side -----------------------------------------------------------------


def test_logfmt_quotes_what_is_not_a_plain_word() -> None:
    line = logfmt({"event": "x", "n": 3, "f": 0.5, "ok": True, "none": None, "s": 'a "b"'})
    assert line == 'event=x n=3 f=0.5 ok=true s="a \\"b\\""'
    # a value from the data cannot start a new line or reach a terminal raw
    assert logfmt({"file": "a\nevent=forged\u202e"}) == 'file="a\\nevent=forged\\u202e"'
    assert logfmt({"nan": float("nan")}) == "nan=nan"


def test_track_without_a_display_counts_and_logs_its_start_and_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="coordscope"), track("t", total=3, unit="x") as t:
        assert progress.current() is t
        t.advance()
        t.advance(2)
    assert t.done == 3
    assert progress.current() is None
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "event=task_start task=t total=3 unit=x"
    assert messages[-1].startswith("event=task_done task=t done=3 unit=x seconds=")


def test_progress_records_come_every_log_every_seconds_with_the_time_left(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 110.0, 116.0, 117.0, 140.0]).__next__
    monkeypatch.setattr("coordscope.progress.time", SimpleNamespace(monotonic=clock))
    with caplog.at_level(logging.INFO, logger="coordscope"), track("parts", total=10) as t:
        t.advance(2)  # at 110 s: 10 s since the start, under LOG_EVERY (15 s): no record
        t.advance(3)  # at 116 s: 16 s, logged: 5 of 10 done in 16 s, 16 s left
        t.advance(1)  # at 117 s: 1 s since the last record: none
    lines = [r.getMessage() for r in caplog.records if "event=progress" in r.getMessage()]
    assert lines == ["event=progress task=parts done=5 total=10 seconds=16 pct=50 eta_s=16"]


def test_formatter_writes_one_line_with_a_utc_stamp() -> None:
    record = logging.LogRecord("coordscope", logging.INFO, __file__, 1, "event=x n=1", None, None)
    record.created = 0.25
    assert LogfmtFormatter().format(record) == "ts=1970-01-01T00:00:00.250Z level=info event=x n=1"
    other = logging.LogRecord("coordscope", logging.WARNING, __file__, 1, "plain text", None, None)
    other.created = 0.0
    assert LogfmtFormatter().format(other).endswith('level=warning msg="plain text"')


def test_an_audit_in_partitions_reports_every_partition(tmp_path: Path) -> None:
    # a tiny budget forces many pair partitions: every bar with a size must end at its
    # size, and every task that began must end
    events, _ = coordscope.simulate("link_ring", seed=3, size="small")
    shown = Recorder()
    with showing(shown):
        result = coordscope.audit(
            events, memory=Budget(memory=MIN_MEMORY, workers=2, task=300_000), work_dir=tmp_path
        )
    tasks = shown.by_label()
    for label in ("signals", "key partitions", "counting co-actions", "pair partitions"):
        assert label in tasks, label
    # 20,000 events: one key partition, but tasks of 300 kB cut the pairs finely
    ((_, _, counted, _),) = tasks["counting co-actions"]
    assert len(counted) > 1
    ((pair_parts, unit, _, _),) = tasks["pair partitions"]
    assert unit == "partitions" and pair_parts is not None and pair_parts > 10
    for label, runs in tasks.items():
        for total, _unit, updates, ended in runs:
            assert ended, label
            if total is not None and updates:
                assert updates[-1] == total, (label, updates[-1], total)
                assert updates == sorted(updates), label
    n_signals = len(result.summary["parameters"]["signals"])
    assert [t for t, *_ in tasks["signals"]] == [n_signals]
    assert sum(len(u) for t, _, u, _ in tasks["co_share actions"]) >= 1


def test_ingest_moves_each_file_bar_to_its_size(tmp_path: Path) -> None:
    rows = pl.DataFrame(
        {
            "actor_id": [f"a{i % 50}" for i in range(20_000)],
            "ts": [1_700_000_000 + i for i in range(20_000)],
            "event_id": [str(i) for i in range(20_000)],
            "kind": ["post"] * 20_000,
            "text": ["some words here"] * 20_000,
        }
    )
    csv = tmp_path / "posts.csv"
    rows.write_csv(csv)
    parquet = tmp_path / "posts.parquet"
    rows.write_parquet(parquet, row_group_size=1000)
    shown = Recorder()
    with showing(shown):
        ingest([str(csv), str(parquet)], memory=MIN_MEMORY)
    tasks = shown.by_label()
    assert [(t, u) for t, u, *_ in tasks["input files"]] == [(2, "files")]
    for path in (csv, parquet):
        ((total, unit, updates, ended),) = tasks[path.name]
        assert (total, unit, ended) == (path.stat().st_size, "bytes", True)
        assert updates and updates[-1] == total and updates == sorted(updates)
    # the CSV is read in pieces (a 64 MB budget reads 512 kB at a time): its bar moves
    # before the end
    assert csv.stat().st_size > 512_000
    assert len(tasks[csv.name][0][2]) >= 2


# --- the command line -----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An event table of 2,000 events (a tiny link ring): an audit takes a second or two."""
    path = tmp_path_factory.mktemp("progress") / "events.parquet"
    events, _ = coordscope.simulate("link_ring", seed=1, size="tiny")
    events.write_parquet(path)
    return str(path)


_LINE = re.compile(r'^ts=\S+Z level=(info|warning|error) event=\w+( \w+=("([^"\\]|\\.)*"|\S+))*$')


def _fields(line: str) -> dict[str, str]:
    return {m[0]: m[1].strip('"') for m in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line)}


def test_verbose_writes_logfmt_lines_for_every_stage(small_input: str, tmp_path: Path) -> None:
    done = run_cli("audit", small_input, "-o", str(tmp_path / "out"), "--verbose")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(_LINE.match(line) for line in lines), lines
    events = [_fields(line) for line in lines]
    assert events[0]["event"] == "run_start" and events[0]["command"] == "audit"
    assert events[-1]["event"] == "run_done"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    stages_done = [e["stage"] for e in events if e["event"] == "stage_done"]
    # one line per stage, in the order they ran, each timed in the summary too
    assert stages_done == [
        "ingest", "actions", "significance", "clusters", "bursts", "tables", "write"
    ]  # fmt: skip
    assert set(stages_done) <= set(summary["timings_s"])
    (audit_done,) = [e for e in events if e["event"] == "audit_done"]
    assert int(audit_done["flagged_clusters"]) == summary["counts"]["flagged_clusters"]
    assert "rows: " in done.stdout  # the summary still goes to stdout


def test_quiet_prints_nothing_and_still_writes(small_input: str, tmp_path: Path) -> None:
    done = run_cli("audit", small_input, "-o", str(tmp_path / "out"), "--quiet")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (tmp_path / "out" / "summary.json").is_file()
    as_json = run_cli("audit", small_input, "-o", str(tmp_path / "out2"), "-q", "--json")
    assert as_json.returncode == 0 and as_json.stderr == ""
    assert json.loads(as_json.stdout)["command"] == "audit"


def test_verbose_logs_the_failure_before_the_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("not,an,export\n1,2,3\n")
    done = run_cli("ingest", str(bad), "-o", str(tmp_path / "e.parquet"), "-v")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    failed = [_fields(line) for line in lines if "event=failed" in line]
    assert len(failed) == 1 and failed[0]["command"] == "ingest"
    assert lines[-1].startswith("error: ")


def test_quiet_and_verbose_together_are_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("simulate", "-s", "organic", "-o", str(tmp_path), "-q", "-v")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --quiet and --verbose cannot be used together"


@pytest.mark.parametrize("command", ["ingest", "detect", "audit", "simulate", "report", "window"])
def test_long_commands_take_quiet_and_verbose(command: str) -> None:
    done = run_cli(command, "--help", env={"COLUMNS": "200"})
    assert "--quiet" in done.stdout and "--verbose" in done.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_terminal_gets_bars_and_a_line_per_stage(small_input: str, tmp_path: Path) -> None:
    # stderr on a pseudo-terminal, stdout a pipe: the bars go to the terminal only
    leader, follower = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100", "TERM": "xterm"}
    env.pop("COORDSCOPE_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordscope", "audit", small_input, "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0
    screen = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", b"".join(chunks)).decode()
    for label in ("reading input", "co-actions and significance", "writing outputs and report"):
        assert re.search(rf"✓ {re.escape(label)} +\d+\.\d\d s", screen), label
    assert re.search(r"\d+/\d+ files", screen)  # a bar with its counts
    assert "/2,000 events" in screen
    assert b"\x1b" not in out and b"rows: 2,000 input" in out  # stdout: no bar, the summary


def test_log_skips_formatting_when_nobody_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[object] = []

    def spy(fields: dict[str, object]) -> str:
        called.append(fields)
        return ""

    monkeypatch.setattr(progress, "logfmt", spy)
    logging.getLogger("coordscope").setLevel(logging.WARNING)
    try:
        log("stage_done", stage="x")
    finally:
        logging.getLogger("coordscope").setLevel(logging.NOTSET)
    assert called == []
