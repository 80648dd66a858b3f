"""The daily state: events by day, re-collection, safety, horizon audits, campaign ids."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import coordscope as cs
from coordscope.engine.state import STATE_VERSION, StateStore
from coordscope.errors import ParameterError, SchemaError, StateError
from coordscope.runs import run_audit, run_state_audit
from coordscope.schema import EVENT_SCHEMA

DAY0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def ev(
    event_id: str, actor: str, ts: dt.datetime, *, text: str = "t", url: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "platform": "generic",
        "actor_id": actor,
        "actor_name": None,
        "ts": ts,
        "kind": "post",
        "object_id": None,
        "text": text,
        "urls": [url] if url else [],
        "hashtags": [],
        "mentions": [],
        "media": [],
        "channel": None,
        "actor_created": None,
    }


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


# -- the store ------------------------------------------------------------------------------


def manifest_files(state: Path) -> list[str]:
    """Every file the state's manifest names."""
    with StateStore(state) as store:
        return sorted(store.committed.files())


def test_events_are_stored_by_utc_day_sorted(tmp_path: Path) -> None:
    rows = [
        ev("3", "b", DAY0 + dt.timedelta(hours=30)),
        ev("1", "a", DAY0 + dt.timedelta(hours=23, minutes=59, seconds=59)),
        ev("2", "a", DAY0 + dt.timedelta(hours=1)),
    ]
    with StateStore(tmp_path / "st") as store:
        added = store.add(frame(rows))
        assert (added.events, added.replaced, added.days) == (3, 0, ["2024-03-01", "2024-03-02"])
        store.commit()
    with StateStore(tmp_path / "st") as store:
        assert {d: v["events"] for d, v in store.committed.days.items()} == {
            "2024-03-01": 2,
            "2024-03-02": 1,
        }
        assert store.scan(["2024-03-01"]).collect()["event_id"].to_list() == ["2", "1"]
        assert store.committed.generation == 1


def test_recollected_events_replace_on_any_day_and_are_counted(tmp_path: Path) -> None:
    t = DAY0 + dt.timedelta(hours=12)
    with StateStore(tmp_path / "st") as store:
        store.add(frame([ev("1", "a", t), ev("2", "a", t), ev("3", "b", t + dt.timedelta(days=1))]))
        store.commit()
    # "1" edited in place, "2" re-dated to the next day, "4" new; "5" twice in the input
    again = [
        ev("1", "a", t, text="edited"),
        ev("2", "a", t + dt.timedelta(days=1, hours=1)),
        ev("4", "c", t),
        ev("5", "c", t, text="first"),
        ev("5", "c", t, text="second"),
    ]
    with StateStore(tmp_path / "st") as store:
        added = store.add(frame(again))
        assert (added.events, added.replaced, added.replaced_in_input) == (4, 2, 1)
        store.commit()
        events = store.scan(sorted(store.committed.days)).collect()
    assert events.height == 5  # 1, 2, 3, 4, 5: replaced, not doubled
    texts = dict(zip(events["event_id"], events["text"], strict=True))
    assert texts["1"] == "edited" and texts["5"] == "second"
    by_day = events.with_columns(pl.col("ts").dt.date().cast(pl.String).alias("d"))
    assert by_day.filter(pl.col("event_id") == "2")["d"].item() == "2024-03-02"


def test_uncommitted_changes_leave_the_state_as_it_was(tmp_path: Path) -> None:
    state = tmp_path / "st"
    with StateStore(state) as store:
        store.add(frame([ev("1", "a", DAY0)]))
        store.commit()
    before = (state / "manifest.json").read_text()
    with pytest.raises(RuntimeError), StateStore(state) as store, store.unchanged():
        store.add(frame([ev("2", "a", DAY0 + dt.timedelta(days=3))]))
        raise RuntimeError("killed")
    assert (state / "manifest.json").read_text() == before
    assert sorted(p.name for p in (state / "events").iterdir()) == ["2024-03-01.g1.parquet"]


def test_a_failure_after_the_switch_keeps_the_new_state(tmp_path: Path) -> None:
    state = tmp_path / "st"
    with pytest.raises(RuntimeError), StateStore(state) as store, store.unchanged():
        store.add(frame([ev("1", "a", DAY0)]))
        store.commit()
        raise RuntimeError("interrupted after the commit")
    with StateStore(state) as store:  # the files the manifest names were not collected
        assert store.committed.generation == 1
        assert store.scan(["2024-03-01"]).collect()["event_id"].to_list() == ["1"]


def test_a_manifest_killed_as_it_was_written_is_ignored_and_removed(tmp_path: Path) -> None:
    # the first run killed in the manifest's write: only the lock, events/ and the
    # manifest's temporary file
    state = tmp_path / "st"
    (state / "events").mkdir(parents=True)
    (state / "lock").write_text("")
    (state / ".manifest.tmp-k1ll3d.json").write_text('{"format": "coordscope-st')
    with StateStore(state) as store:
        assert store.committed.generation == 0
        store.add(frame([ev("1", "a", DAY0)]))
        store.commit()
    (state / ".manifest.tmp-again.json").write_text("{")
    with StateStore(state) as store:
        assert store.committed.generation == 1
    assert not list(state.glob(".manifest.tmp-*"))


def test_extra_columns_are_kept_and_bad_tables_refused(tmp_path: Path) -> None:
    with StateStore(tmp_path / "st") as store:
        store.add(frame([ev("1", "a", DAY0)]).with_columns(pl.lit("d1").alias("x_domain_id")))
        store.add(frame([ev("2", "a", DAY0 + dt.timedelta(days=1))]))
        store.commit()
        events = store.scan(["2024-03-01", "2024-03-02"]).collect()
        assert events["x_domain_id"].to_list() == ["d1", None]
        with pytest.raises(SchemaError, match="ts"):
            store.add(
                frame([ev("3", "a", DAY0)]).with_columns(pl.col("ts").dt.cast_time_unit("ns"))
            )


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    with (
        StateStore(tmp_path / "st"),
        pytest.raises(StateError, match="in use by another"),
        StateStore(tmp_path / "st"),
    ):
        pass
    with StateStore(tmp_path / "st"):  # released
        pass


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"format": "coordscope-state", "version": STATE_VERSION + 1, "written_by": "coordscope 9"},
         "version 2 was written by coordscope 9; .* upgrade"),
        ({"format": "something-else", "version": 1}, "not a coordscope state manifest"),
        ({"format": "coordscope-state", "version": STATE_VERSION, "generation": 1},
         "damaged manifest"),
        ({"format": "coordscope-state", "version": STATE_VERSION, "generation": 1,
          "days": {"2024-03-01": {"file": "events/x.parquet", "events": 1}}},
         "names events/x.parquet, which is missing"),
    ],
)  # fmt: skip
def test_a_manifest_not_understood_is_refused(tmp_path: Path, manifest: Any, message: str) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StateError, match=message), StateStore(tmp_path):
        pass


def test_a_folder_that_is_not_a_state_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StateError, match="not a coordscope state"), StateStore(tmp_path):
        pass
    with pytest.raises(StateError, match="no such state"), StateStore(tmp_path / "x", create=False):
        pass


def test_drop_day_and_prune(tmp_path: Path) -> None:
    rows = [ev(str(i), "a", DAY0 + dt.timedelta(days=i)) for i in range(4)]
    with StateStore(tmp_path / "st") as store:
        store.add(frame(rows))
        store.commit()
        assert store.drop_day("2024-03-03") == 1
        assert store.prune_before("2024-03-02") == 1
        store.commit()
        assert sorted(store.committed.days) == ["2024-03-02", "2024-03-04"]
        assert store.committed.horizon(2) == ["2024-03-04"]  # calendar days: 03 and 04
        with pytest.raises(ParameterError, match="day 2024-03-09 is not in the state"):
            store.drop_day("2024-03-09")
    assert sorted(p.name for p in (tmp_path / "st" / "events").iterdir()) == [
        "2024-03-02.g1.parquet",
        "2024-03-04.g1.parquet",
    ]


# -- daily audits ---------------------------------------------------------------------------


def campaign_rows(
    name: str, accounts: int, days: range, *, pushes: int = 8
) -> list[dict[str, Any]]:
    """A link ring: every day, ``pushes`` fresh URLs, each posted by every member within 40 s."""
    rows = []
    for d in days:
        for p in range(pushes):
            start = DAY0 + dt.timedelta(days=d, hours=2 + 2 * p, minutes=7 * d)
            url = f"https://{name}.example/{d}/{p}"
            for m in range(accounts):
                ts = start + dt.timedelta(seconds=(m * 7 + p) % 40)
                rows.append(
                    ev(
                        f"{name}-{d}-{p}-{m}",
                        f"{name}{m}",
                        ts,
                        url=url,
                        text=f"{name} {d} {p} {m} news",
                    )
                )
    return rows


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six days: organic background; ring A every day, ring B from day 5, ring C days 1-2."""
    background, _ = cs.simulate("organic", size=3000, days=6, seed=3)
    rows = (
        campaign_rows("ringa", 6, range(0, 6))
        + campaign_rows("ringb", 7, range(4, 6))
        + campaign_rows("ringc", 5, range(0, 2), pushes=12)
    )
    events = pl.concat([background.select(list(EVENT_SCHEMA)), frame(rows)])
    folder = tmp_path_factory.mktemp("week")
    files = []
    day = pl.col("ts").dt.date()
    for d in range(6):
        path = folder / f"day{d + 1}.parquet"
        events.filter(day == (DAY0 + dt.timedelta(days=d)).date()).write_parquet(path)
        files.append(path)
    return files


def members_of(result: Any, prefix: str) -> str | None:
    """The campaign id of the flagged cluster holding the ring's accounts (None: not flagged)."""
    hit = result.clusters.filter(
        pl.col("significant")
        & pl.col("members").list.eval(pl.element().str.starts_with(prefix)).list.any()
    )
    assert hit.height <= 1
    return hit["campaign"].item() if hit.height else None


def test_a_week_of_daily_runs(week: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "st"
    results = []
    for d, path in enumerate(week, start=1):
        results.append(run_state_audit([str(path)], tmp_path / f"out{d}", state=state, horizon=2))
    a_ids = {members_of(r, "ringa") for r in results}
    assert len(a_ids) == 1 and None not in a_ids  # one campaign, one id, every day
    status = [
        {row["campaign"]: row["status"] for row in r.changes.iter_rows(named=True)} for r in results
    ]
    (a,) = a_ids
    assert status[0][a] == "new" and all(s[a] == "continuing" for s in status[1:])
    # ring B starts on day 5: new on day 5, then continuing with the same id
    b = members_of(results[4], "ringb")
    assert b is not None and b.startswith("C-20240305-")
    assert members_of(results[3], "ringb") is None and status[4][b] == "new"
    assert members_of(results[5], "ringb") == b and status[5][b] == "continuing"
    # ring C acts on days 1-2: in a 2-day horizon until day 3, ended on day 4
    c = members_of(results[0], "ringc")
    assert c is not None and members_of(results[2], "ringc") == c
    assert status[3][c] == "ended" and c not in status[4]
    # the outputs: changes.parquet, the state in the summary, the report's section
    out4 = tmp_path / "out4"
    changes = pl.read_parquet(out4 / "changes.parquet")
    assert_frame_equal(changes, results[3].changes)
    summary = json.loads((out4 / "summary.json").read_text())
    assert summary["state"]["horizon"] == {
        "days": 2, "first": "2024-03-03", "last": "2024-03-04", "days_with_events": 2,
        "events": summary["state"]["horizon"]["events"],
    }  # fmt: skip
    assert summary["state"]["changes"] == {"continuing": 1, "ended": 1}
    assert "changes.parquet" in summary["files"]
    html = (out4 / "report.html").read_text()
    assert "Since the last run" in html and a in html and c in html and b not in html
    assert b in (tmp_path / "out5" / "report.html").read_text()


def test_daily_runs_equal_one_audit_of_the_horizon(week: list[Path], tmp_path: Path) -> None:
    for d, path in enumerate(week[:4], start=1):
        daily = run_state_audit([str(path)], tmp_path / f"d{d}", state=tmp_path / "st", horizon=3)
    at_once = run_state_audit(
        [str(p) for p in week[:4]], tmp_path / "once", state=tmp_path / "st2", horizon=3
    )
    # a plain audit of the horizon's events, read from the state's files
    horizon_events = pl.concat(
        [pl.read_parquet(p) for p in sorted((tmp_path / "st" / "events").glob("2024-03-0[234]*"))]
    )
    horizon_events.write_parquet(tmp_path / "horizon.parquet")
    plain = run_audit([str(tmp_path / "horizon.parquet")], tmp_path / "plain")
    for other in (at_once, plain):
        assert_frame_equal(daily.edges, other.edges)
        assert_frame_equal(daily.coactions, other.coactions)
        assert_frame_equal(daily.nodes, other.nodes)
        assert_frame_equal(daily.bursts, other.bursts)
        assert_frame_equal(daily.clusters.drop("campaign"), other.clusters.drop("campaign"))
    assert daily.summary["state"]["horizon"]["first"] == "2024-03-02"
    # the daily run counted its own day only, and took the others' pairs from the state
    assert daily.summary["state"]["days_counted"] == ["2024-03-04"]
    assert daily.summary["state"]["days_reused"] == 2
    assert daily.summary["counts"]["significance"]["units_from_kept_partials"] > 100
    assert plain.summary["counts"]["significance"]["units_from_kept_partials"] == 0


def test_what_is_kept_is_made_again_when_a_day_or_the_parameters_change(
    week: list[Path], tmp_path: Path
) -> None:
    state = tmp_path / "st"
    first = run_state_audit([str(p) for p in week[:3]], tmp_path / "o", state=state, horizon=3)
    assert first.summary["state"]["days_counted"] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    # a re-collection of day 2 (every event again, one text edited)
    again = pl.read_parquet(week[1]).with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("edited")).otherwise("text").alias("text")
    )
    again.write_parquet(tmp_path / "again.parquet")
    second = run_state_audit(
        [str(tmp_path / "again.parquet")], tmp_path / "o", state=state, horizon=3
    )
    assert second.summary["state"]["replaced"] == again.height
    assert second.summary["state"]["days_counted"] == ["2024-03-02"]
    # another window: every day is counted again, and the result is the plain audit's
    third = run_state_audit([], tmp_path / "o", state=state, horizon=3, window=30.0)
    assert third.summary["state"]["days_counted"] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert third.summary["rows"] == {"input": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    with StateStore(state) as store:
        events = store.scan(sorted(store.committed.days)).collect()
    assert events.height == sum(pl.read_parquet(p).height for p in week[:3])
    assert events.filter(pl.col("text") == "edited").height == 1
    events.write_parquet(tmp_path / "all.parquet")
    plain = run_audit([str(tmp_path / "all.parquet")], tmp_path / "plain", window=30.0)
    assert_frame_equal(third.edges, plain.edges)
    assert_frame_equal(third.clusters.drop("campaign"), plain.clusters.drop("campaign"))


def test_a_missing_kept_file_makes_its_day_counted_again(week: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "st"
    first = run_state_audit([str(p) for p in week[:2]], tmp_path / "o", state=state, horizon=2)
    assert first.summary["state"]["days_counted"] == ["2024-03-01", "2024-03-02"]
    # a kept file of day 1 is lost (deleted by hand, a disk cleaner): it is a cache of the
    # day's events, so the next run counts that day again instead of refusing the state
    (lost,) = sorted((state / "kept").glob("2024-03-01.*.partials.parquet"))
    lost.unlink()
    second = run_state_audit([], tmp_path / "o2", state=state, horizon=2)
    assert second.summary["state"]["days_counted"] == ["2024-03-01"]
    assert_frame_equal(second.edges, first.edges)
    assert_frame_equal(second.clusters, first.clusters)
    # ...and keeps it again: the run after that counts nothing
    third = run_state_audit([], tmp_path / "o3", state=state, horizon=2)
    assert third.summary["state"]["days_counted"] == []
    # a lost day of events is data, not a cache: refused with one line
    (events_file,) = sorted((state / "events").glob("2024-03-02.*"))
    events_file.unlink()
    with pytest.raises(
        StateError, match=r"names events/2024-03-02\.g\d+\.parquet, which is missing"
    ):
        run_state_audit([], tmp_path / "o4", state=state, horizon=2)


def test_state_cli(week: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "st"
    run = [sys.executable, "-m", "coordscope"]
    for path in week[:3]:
        done = subprocess.run(
            [
                *run,
                "audit",
                str(path),
                "-o",
                str(tmp_path / "o"),
                "--state",
                str(state),
                "--horizon",
                "2",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "since the last run" in done.stdout and "continuing" in done.stdout
    shown = subprocess.run(
        [*run, "state", str(state), "--json"], capture_output=True, text=True, check=True
    )
    info = json.loads(shown.stdout)
    assert list(info["days"]) == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert info["horizon"]["days"] == 2 and info["horizon"]["first"] == "2024-03-02"
    assert info["size_bytes"] > 0 and info["campaigns"]["active"] >= 1
    text = subprocess.run(
        [*run, "state", str(state)], capture_output=True, text=True, check=True
    ).stdout
    assert "3 days held" in text and "on disk" in text
    pruned = subprocess.run(
        [
            *run,
            "state",
            str(state),
            "--prune-before",
            "2024-03-02",
            "--drop-day",
            "2024-03-03",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert list(json.loads(pruned.stdout)["days"]) == ["2024-03-02"]
    bad = subprocess.run(
        [*run, "state", str(state), "--drop-day", "March"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (
        bad.returncode == 2  # a bad option value
        and bad.stderr.strip() == "error: --drop-day must be a date YYYY-MM-DD, got 'March'"
    )
    # a run while another holds the lock: one line, exit 1
    with StateStore(state):
        busy = subprocess.run(
            [*run, "audit", str(week[3]), "-o", str(tmp_path / "o"), "--state", str(state)],
            capture_output=True,
            text=True,
            check=False,
        )
    assert busy.returncode == 1
    assert busy.stderr.count("\n") == 1 and "in use by another coordscope run (pid" in busy.stderr
    alone = subprocess.run(
        [*run, "audit", "-o", str(tmp_path / "o"), "--horizon", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert alone.returncode == 2 and "--horizon needs --state" in alone.stderr


@pytest.mark.parametrize("kill_when", ["events/2024-03-04.g4.parquet", "report.html"])
def test_a_run_killed_mid_write_leaves_a_state_the_next_run_accepts(
    week: list[Path], tmp_path: Path, kill_when: str
) -> None:
    state, out = tmp_path / "st", tmp_path / "o"
    for path in week[:3]:
        run_state_audit([str(path)], out, state=state, horizon=2)
    before = (state / "manifest.json").read_text()
    files_before = sorted(str(p.relative_to(state)) for p in state.rglob("*.parquet"))
    watched = state / kill_when if kill_when.startswith("events/") else out / kill_when
    if watched.exists():
        watched.unlink()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coordscope",
            "audit",
            str(week[3]),
            "-o",
            str(out),
            "--state",
            str(state),
            "--horizon",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not watched.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (state / "manifest.json").read_text() == before  # not switched
    # the next run accepts the state, removes what the killed run left, and commits
    result = run_state_audit([str(week[3])], out, state=state, horizon=2)
    assert result.summary["state"]["generation"] == 4
    assert result.summary["state"]["added"] == pl.read_parquet(week[3]).height
    files_after = sorted(str(p.relative_to(state)) for p in state.rglob("*.parquet"))
    assert "events/2024-03-04.g4.parquet" in files_after
    new = set(files_after) - set(files_before)
    assert {"events/2024-03-04.g4.parquet", "campaigns/g4.parquet"} <= new
    # the day's kept actions (four signals), partials and checks, and its near-duplicate
    # messages, sets, hashes and pairs; nothing else (day 3's pairs stay: its earlier
    # days in the 2-day horizon are none, as when they were made)
    kept = {f for f in new if f.startswith("kept/2024-03-04.g4.")}
    assert len(kept) == 10
    assert new == kept | {"events/2024-03-04.g4.parquet", "campaigns/g4.parquet"}
    assert set(files_after) == set(manifest_files(state))
