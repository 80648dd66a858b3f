"""The generic reader on hand-made fixtures: every value checked, every row accounted for."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest
import zstandard

from coordscope import ingest, read_events
from coordscope.datasets.formats import detect_format
from coordscope.datasets.writers.generic import write
from coordscope.errors import FormatError, InputError
from coordscope.schema import validate_events
from tests.conftest import FIXTURES, assert_accounting
from tests.conftest import utc as _utc

GENERIC = FIXTURES / "generic"


def test_csv_values_rejects_and_accounting() -> None:
    result = ingest(GENERIC / "posts.csv")
    assert result.rows == {"input": 9, "accepted": 5, "rejected": 3, "duplicates": 1}
    assert_accounting(result.rows)
    ev = result.events
    validate_events(ev)
    assert ev["event_id"].to_list() == ["p1", "p2", "p3", "p4", "p8"]
    p1, p2, p3, p4, p8 = ev.iter_rows(named=True)
    assert p1["ts"] == _utc(2024, 3, 1, 10, 0, 0)
    assert p1["urls"] == ["https://example.com/news?id=7"]
    assert p1["hashtags"] == ["world"]
    assert p1["mentions"] == ["bob"]
    assert p1["kind"] == "post" and p1["platform"] == "twitter"
    # +01:00 offset converted to UTC; empty kind becomes post; two URLs split at the space
    assert p2["ts"] == _utc(2024, 3, 1, 9, 0, 30)
    assert p2["kind"] == "post"
    assert p2["text"] == "Quoted, with a comma"
    assert p2["urls"] == ["https://example.com/a", "https://bit.ly/xyz"]
    assert p2["hashtags"] == ["one", "two"]
    # epoch seconds, a repost of p1
    assert p3["ts"] == _utc(2024, 3, 1, 10, 0, 30)
    assert (p3["kind"], p3["object_id"], p3["actor_name"]) == ("repost", "p1", None)
    # a naive time is UTC, and counted
    assert p4["ts"] == _utc(2024, 3, 1, 10, 1, 0)
    assert result.notes["naive_timestamps"] == 1
    # epoch seconds like p3 (a file's epochs have one unit); an empty URL cell is no URL
    assert p8["ts"] == _utc(2024, 3, 1, 10, 3, 0)
    assert p8["urls"] == []
    assert result.notes["urls_shortened"] == 1
    rejects = dict(zip(result.rejects["record"], result.rejects["reason"], strict=True))
    assert rejects == {
        5: "missing actor_id",
        6: "field 'ts': timestamp not understood: 'yesterday'",
        7: "field 'kind': unknown kind 'shout'",
    }
    assert set(result.rejects["source"]) == {str(GENERIC / "posts.csv")}


def test_mapping_by_name_and_default_kind_and_ids() -> None:
    path = GENERIC / "mapped.tsv"
    with pytest.raises(InputError, match="no column for 'actor_id'"):
        ingest(path, format="generic")
    result = ingest(
        path,
        format="generic",
        mapping={"actor_id": "user", "ts": "when", "text": "msg", "object_id": "shared"},
    )
    assert result.rows == {"input": 2, "accepted": 2, "rejected": 0, "duplicates": 0}
    ev = result.events
    assert ev["event_id"].to_list() == ["mapped.tsv:1", "mapped.tsv:2"]
    assert ev["kind"].cast(pl.String).to_list() == ["post", "repost"]
    assert ev["object_id"].to_list() == [None, "X9"]
    assert ev["platform"].cast(pl.String).to_list() == ["generic", "generic"]


def test_mapping_to_missing_column_names_it() -> None:
    with pytest.raises(InputError, match="no column 'nope'"):
        ingest(GENERIC / "mapped.tsv", format="generic", mapping={"actor_id": "nope", "ts": "when"})


def test_json_lines_bad_line_is_a_counted_reject() -> None:
    result = ingest(GENERIC / "posts.jsonl")
    assert result.inputs[0]["format"] == "generic"
    assert result.rows == {"input": 4, "accepted": 3, "rejected": 1, "duplicates": 0}
    assert result.rejects["record"].to_list() == [4]  # physical line number (line 2 is blank)
    assert result.rejects["reason"][0].startswith("not valid JSON")
    ev = result.events
    assert ev["event_id"].to_list() == ["j1", "j2", "j4"]
    assert ev["urls"][0].to_list() == ["https://example.com/x"]
    assert ev["hashtags"][0].to_list() == ["tag"]
    assert ev["kind"].cast(pl.String).to_list() == ["post", "repost", "post"]
    assert ev["ts"][1] == _utc(2024, 3, 1, 10, 0, 5)


def test_json_array_with_aliases() -> None:
    result = ingest(GENERIC / "posts.json")
    ev = result.events
    assert ev["event_id"].to_list() == ["k1", "k2"]
    assert ev["actor_id"].to_list() == ["a1", "a2"]
    assert ev["text"].to_list() == ["first", "second"]
    assert result.notes["mapped_by_alias"] == 4


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".json", ".csv", ".tsv", ".csv.gz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    events = read_events(GENERIC / "posts.csv")
    path = tmp_path / f"events{suffix}"
    write(events, str(path))
    back = read_events(path)
    assert back.select(events.columns).equals(events)


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_compressed_input_by_content_not_name(tmp_path: Path, codec: str) -> None:
    raw = (GENERIC / "posts.csv").read_bytes()
    data = gzip.compress(raw) if codec == "gzip" else zstandard.ZstdCompressor().compress(raw)
    path = tmp_path / "posts.bin"  # the name says nothing
    path.write_bytes(data)
    assert detect_format(str(path)) == "generic"
    assert ingest(path).rows == ingest(GENERIC / "posts.csv").rows


def test_truncated_gzip_is_one_clear_error(tmp_path: Path) -> None:
    data = gzip.compress((GENERIC / "posts.csv").read_bytes() * 50)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.csv\.gz: corrupt or truncated gzip"):
        ingest(path)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        ingest(tmp_path / "nope.csv")
    with pytest.raises(FormatError, match="unknown format 'xml'"):
        ingest(GENERIC / "posts.csv", format="xml")


def test_unrecognisable_content_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("alpha,beta\n1,2\n")
    with pytest.raises(FormatError, match=r"odd\.csv: could not recognise the format"):
        ingest(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(FormatError, match="empty"):
        ingest(empty)


def test_json_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text("{not json at all\n{neither\n")
    with pytest.raises(InputError, match="no line is a JSON object"):
        ingest(path, format="generic")


def test_several_files_and_cross_file_duplicates(tmp_path: Path) -> None:
    copy = tmp_path / "again.csv"
    shutil.copy(GENERIC / "posts.csv", copy)
    result = ingest([GENERIC / "posts.csv", copy])
    assert result.rows == {"input": 18, "accepted": 5, "rejected": 6, "duplicates": 7}
    assert_accounting(result.rows)
    assert [i["rows"] for i in result.inputs] == [9, 9]


def test_input_is_not_modified_and_order_is_kept(tmp_path: Path) -> None:
    before = (GENERIC / "posts.csv").read_bytes()
    first = read_events(GENERIC / "posts.csv")
    second = read_events(GENERIC / "posts.csv")
    assert first.equals(second)
    assert (GENERIC / "posts.csv").read_bytes() == before
