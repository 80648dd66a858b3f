"""Outputs other tools read without glue: one list convention, ISO times, statistics.

CSV, GraphML and GEXF write lists as JSON arrays and times as ISO 8601 with ``Z``; the
events written as CSV read back equal to what was written, whatever the cells hold
(commas in URLs, spaces and quotes in names, formula-like text); Parquet outputs carry
row-group statistics, so DuckDB, Spark and polars can skip row groups.
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
from coordscope.schema import EVENT_SCHEMA

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
