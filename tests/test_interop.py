"""Outputs other tools read without glue: one list convention, ISO times, statistics.

CSV, GraphML and GEXF write lists as JSON arrays and times as ISO 8601 with ``Z``; the
events written as CSV read back equal to what was written, whatever the cells hold
(commas in URLs, spaces and quotes in names, formula-like text); Parquet outputs carry
row-group statistics, so DuckDB, Spark and polars can skip row groups; every integer
column written is signed (Spark reads an unsigned 64-bit column as ``Decimal(20,0)``), in
an audit, a daily-state audit and a detection in each mode.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import coordscope as cs
from coordscope._output import write_events, write_table
from coordscope.runs import run_detect, run_state_audit
from coordscope.schema import DETECT_NODE_SCHEMA, EVENT_SCHEMA

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def _hostile_events() -> pl.DataFrame:
    rows = [
        {
            "event_id": "e1", "platform": "twitter", "actor_id": "a 1",
            "actor_name": 'Mary "M" Jones',
            "ts": T0, "kind": "post", "object_id": None,
            "text": "=HYPERLINK(\"http://x\")\nsecond line, with a comma",
            "urls": ["https://example.com/a,b?x=1,2", "https://example.com/c d"],
            "hashtags": ["news", "ünïcode"], "mentions": ["bob"], "media": [],
            "channel": None, "actor_created": T0 - dt.timedelta(days=3),
        },
        {
            "event_id": "e2", "platform": "telegram", "actor_id": "-100123", "actor_name": "+cmd|x",
            "ts": T0 + dt.timedelta(microseconds=123_456), "kind": "repost", "object_id": "e1",
            "text": "'=already quoted", "urls": [], "hashtags": [], "mentions": [],
            "media": ["m1"], "channel": "@chan", "actor_created": None,
        },
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


def test_events_written_as_csv_read_back_equal(tmp_path: Path) -> None:
    events = _hostile_events()
    write_events(events, tmp_path / "events.csv")
    text = (tmp_path / "events.csv").read_text(encoding="utf-8")
    # the cells as written: JSON lists, ISO times with Z, formula cells neutralised
    assert '"[""https://example.com/a,b?x=1,2"",""https://example.com/c d""]"' in text
    assert "2024-03-01T12:00:00.123456Z" in text
    assert "'+cmd|x" in text and "''=already quoted" in text
    back = cs.read_events(tmp_path / "events.csv", format="generic")
    assert_frame_equal(back.select(list(EVENT_SCHEMA)), events)


def test_csv_times_and_lists_read_by_other_tools(tmp_path: Path) -> None:
    edges = pl.DataFrame(
        {
            "actor_a": ["a"],
            "first_ts": [T0],
            "signals": [["co_share", "co_link"]],
        },
        schema={
            "actor_a": pl.String,
            "first_ts": pl.Datetime("us", "UTC"),
            "signals": pl.List(pl.String),
        },
    )
    write_table(edges, tmp_path / "edges.csv")
    assert (tmp_path / "edges.csv").read_text(encoding="utf-8").splitlines() == [
        "actor_a,first_ts,signals",
        'a,2024-03-01T12:00:00.000000Z,"[""co_share"",""co_link""]"',
    ]
    # what pandas, Spark and DuckDB do: an ISO reader and json.loads
    row = pl.read_csv(tmp_path / "edges.csv", try_parse_dates=True).row(0, named=True)
    assert row["first_ts"] == T0
    assert json.loads(row["signals"]) == ["co_share", "co_link"]


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events, _ = cs.simulate("demo", size="tiny", seed=5)
    out = tmp_path_factory.mktemp("interop")
    cs.audit(events, signals=["co_share", "co_link", "co_hashtag"]).write(out)
    return out


def test_graph_files_write_lists_as_json(audit_dir: Path) -> None:
    graphml = (audit_dir / "graph.graphml").read_text(encoding="utf-8")
    assert "co_share;" not in graphml
    assert "[&quot;co_" in graphml  # a JSON array, XML-escaped


def test_parquet_outputs_carry_statistics(audit_dir: Path) -> None:
    for name in ("events.parquet", "edges.parquet", "coactions.parquet", "nodes.parquet",
                 "clusters.parquet", "bursts.parquet"):  # fmt: skip
        meta = pq.ParquetFile(audit_dir / name).metadata
        if meta.num_rows == 0:
            continue
        group = meta.row_group(0)
        flat = [group.column(i) for i in range(group.num_columns)]
        with_stats = [c for c in flat if c.statistics is not None and c.statistics.has_min_max]
        # every column with a value has min/max (a column of nulls only has none)
        assert len(with_stats) >= len(flat) // 2, name
        ts = [c for c in flat if c.path_in_schema in ("ts", "first_ts")]
        assert all(c.statistics.has_min_max for c in ts), name


# ----------------------------------------------------------------------------- integers


def _unsigned(dtype: pl.DataType) -> bool:
    """Whether ``dtype`` is, or holds (in a list, array or struct), an unsigned integer."""
    if dtype.is_unsigned_integer():
        return True
    if isinstance(dtype, pl.List | pl.Array):
        return _unsigned(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_unsigned(f.dtype) for f in dtype.fields)
    return False


def _unsigned_columns(folder: Path) -> dict[str, list[str]]:
    """Every Parquet file of ``folder`` that has an unsigned column, with those columns."""
    found = {}
    for path in sorted(folder.glob("*.parquet")):
        bad = [f"{c}: {t}" for c, t in pl.read_parquet_schema(path).items() if _unsigned(t)]
        if bad:
            found[path.name] = bad
    return found


@pytest.fixture(scope="module")
def days_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A two-day simulation, one events file a day."""
    events, _ = cs.simulate("mixed", size="tiny", seed=7, days=2)
    folder = tmp_path_factory.mktemp("days")
    files = []
    for (day,), frame in sorted(events.group_by(pl.col("ts").dt.date()), key=lambda g: g[0]):
        path = folder / f"{day}.parquet"
        frame.sort("ts", "event_id").write_parquet(path)
        files.append(path)
    assert len(files) == 2
    return files


def test_audit_outputs_have_no_unsigned_column(audit_dir: Path) -> None:
    # Spark reads an unsigned 64-bit Parquet column as Decimal(20,0), and NumPy makes
    # floats of uint64 mixed with int64: every integer written is signed
    assert _unsigned_columns(audit_dir) == {}
    assert pl.read_parquet_schema(audit_dir / "edges.parquet")["n_coactions"] == pl.Int64
    assert pl.read_parquet_schema(audit_dir / "nodes.parquet")["strength"] == pl.Int64
    assert pl.read_parquet_schema(audit_dir / "clusters.parquet")["n_edges"] == pl.Int64
    assert pl.read_parquet_schema(audit_dir / "edges.parquet")["n_keys"] == pl.Int32
    # the folder reads back with the types it was written with, into equal tables
    back = cs.AuditResult.read(audit_dir)
    for name in ("nodes", "clusters", "bursts"):
        assert_frame_equal(getattr(back, name), pl.read_parquet(audit_dir / f"{name}.parquet"))
    for table in (back.edges, back.coactions, back.nodes, back.clusters, back.bursts):
        assert not any(_unsigned(t) for t in table.schema.values())


def test_daily_state_outputs_have_no_unsigned_column(
    days_files: list[Path], tmp_path: Path
) -> None:
    # the second day's run re-reduces the first day's stored partials (units_from_kept_partials)
    state = tmp_path / "state"
    for i, path in enumerate(days_files):
        out = tmp_path / f"day{i}"
        result = run_state_audit([str(path)], out, state=state, horizon=3)
        assert (out / "changes.parquet").is_file()
        assert _unsigned_columns(out) == {}, f"day {i}"
        back = cs.AuditResult.read(out)
        assert back.changes is not None and result.changes is not None
        assert_frame_equal(back.changes, result.changes)
        assert_frame_equal(back.clusters, result.clusters)
    assert result.summary["counts"]["significance"]["units_from_kept_partials"] > 0


@pytest.mark.parametrize("mode", ["native", "coortweet", "cnt"])
def test_detect_outputs_have_no_unsigned_column(
    days_files: list[Path], tmp_path: Path, mode: str
) -> None:
    files = [str(p) for p in days_files]
    summary = run_detect(files, tmp_path, signals=["co_share", "co_link"], window=60.0, mode=mode)
    assert summary["counts"]["edges"] > 0  # the check has rows to look at
    assert _unsigned_columns(tmp_path) == {}
    nodes = pl.read_csv(tmp_path / "nodes.csv", schema=DETECT_NODE_SCHEMA)
    assert nodes["degree"].max() > 0  # nodes.csv follows the same (signed) schema
