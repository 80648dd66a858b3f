"""CooRTweet and coordination-network-toolkit inputs: fixtures and the real reference files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from coordscope import ingest, read_events
from coordscope.datasets.formats import detect_format
from coordscope.datasets.writers import cnt, coortweet
from coordscope.errors import InputError
from tests.conftest import FIXTURES, REFERENCE, assert_accounting, requires_reference


def test_coortweet_narrow_fixture() -> None:
    path = FIXTURES / "coortweet" / "narrow.csv"
    assert detect_format(str(path)) == "coortweet"
    result = ingest(path)
    # rows: c1, c2 kept; c3 without timestamp and c4 without object rejected; c2 again
    assert result.rows == {"input": 5, "accepted": 2, "rejected": 2, "duplicates": 1}
    assert_accounting(result.rows)
    ev = result.events
    assert ev["event_id"].to_list() == ["c1", "c2"]
    assert ev["object_id"].to_list() == ["o1", "o1"]
    assert ev["kind"].cast(pl.String).to_list() == ["repost"] * 2
    assert ev["ts"][1] == datetime(2021, 6, 16, 22, 4, 55, tzinfo=UTC)
    assert result.rejects.rows() == [
        (str(path), 3, "missing ts"),
        (str(path), 4, "missing object_id"),
    ]


def test_coortweet_wide_merges_long_form_rows() -> None:
    path = FIXTURES / "coortweet" / "wide.csv"
    assert detect_format(str(path)) == "coortweet"
    result = ingest(path)
    # 5 rows: one exact duplicate, one without post_id, two rows of post 10 merged
    assert result.rows == {"input": 5, "accepted": 3, "rejected": 1, "duplicates": 1}
    assert result.notes["merged_rows"] == 1
    ev = result.events
    assert ev.height == 2
    post10, post11 = ev.iter_rows(named=True)
    assert post10["event_id"] == "10" and post10["platform"] == "facebook"
    assert post10["urls"] == ["100", "101"]  # ids kept as they are, never normalised
    assert post10["hashtags"] == ["55"]
    assert post10["x_domain_ids"] == ["7"]
    assert post11["platform"] == "twitter" and post11["media"] == ["900"]
    assert result.rejects["reason"].to_list() == ["missing post_id"]


def test_coortweet_wrong_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("object_id,account_id\n1,2\n")
    with pytest.raises(InputError, match="not a CooRTweet table: missing column"):
        ingest(path, format="coortweet")


def test_coortweet_write_round_trip(tmp_path: Path) -> None:
    events = read_events(FIXTURES / "coortweet" / "narrow.csv")
    out = tmp_path / "shares.csv"
    coortweet.write(events, str(out))
    back = read_events(out)
    cols = ["event_id", "actor_id", "object_id", "ts", "kind"]
    assert back.select(cols).equals(events.select(cols))


def test_cnt_fixture_bom_positions_and_urls() -> None:
    path = FIXTURES / "cnt" / "small.csv"
    assert detect_format(str(path)) == "cnt"
    result = ingest(path)
    assert result.rows == {"input": 4, "accepted": 3, "rejected": 1, "duplicates": 0}
    m1, m2, m3 = result.events.iter_rows(named=True)
    assert m1["event_id"] == "m1" and m1["actor_name"] == "one" and m1["kind"] == "post"
    # two spaces between URLs never make an empty URL; raw kept as written for parity
    assert m1["x_urls_raw"] == ["https://a.example/x", "https://B.example/Y/"]
    assert m1["urls"] == ["https://a.example/x", "https://b.example/Y"]
    assert (m2["kind"], m2["object_id"]) == ("repost", "m1")
    assert m2["ts"] == datetime(1970, 1, 1, 0, 0, 5, 500000, tzinfo=UTC)
    assert (m3["kind"], m3["object_id"]) == ("reply", "m1")
    assert result.rejects["reason"].to_list() == [
        "field 'timestamp': not a number of seconds: 'soon'"
    ]


def test_cnt_wrong_column_count(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="expected 8 columns"):
        ingest(path, format="cnt")


def test_cnt_write_round_trip(tmp_path: Path) -> None:
    events = read_events(FIXTURES / "cnt" / "small.csv")
    out = tmp_path / "toolkit.csv"
    cnt.write(events, str(out))
    back = read_events(out, format="cnt")
    cols = ["event_id", "actor_id", "actor_name", "ts", "kind", "object_id", "text", "urls"]
    assert back.select(cols).equals(events.select(cols))


@requires_reference
@pytest.mark.reference
def test_reference_cnt_fixtures_ingest() -> None:
    mini = ingest(REFERENCE / "cnt" / "mini_all.csv")
    assert mini.inputs[0]["format"] == "cnt"
    assert mini.rows == {"input": 19, "accepted": 19, "rejected": 0, "duplicates": 0}
    l3 = mini.events.filter(pl.col("event_id") == "l3").row(0, named=True)
    assert l3["x_urls_raw"] == ["https://a.example/x", "https://b.example/y"]
    bom = ingest(REFERENCE / "cnt" / "coretweet_test_input.csv")
    assert bom.inputs[0]["format"] == "cnt"
    assert bom.rows["input"] == 15 and bom.rows["accepted"] == 15


@requires_reference
@pytest.mark.reference
def test_reference_russian_coord_tweets_every_row_accounted() -> None:
    result = ingest(REFERENCE / "coortweet" / "russian_coord_tweets.csv.gz")
    assert result.inputs[0]["format"] == "coortweet"
    # 35,125 rows; one is an exact duplicate of another
    assert result.rows == {"input": 35125, "accepted": 35124, "rejected": 0, "duplicates": 1}
    assert result.events["actor_id"].n_unique() == 9509
    assert result.events["object_id"].n_unique() == 7285
    # 39 share ids recur with another object (an artifact of the hashed export): kept, counted
    assert result.notes["event_id_conflicts"] == 78


@requires_reference
@pytest.mark.reference
def test_reference_german_elections_every_row_accounted() -> None:
    result = ingest(REFERENCE / "coortweet" / "german_elections.csv.gz")
    assert result.inputs[0]["format"] == "coortweet"
    assert result.rows == {"input": 218971, "accepted": 194791, "rejected": 3, "duplicates": 24177}
    assert_accounting(result.rows)
    assert result.notes["merged_rows"] == 468
    assert result.events.height == 194323
    platforms = dict(result.events.group_by("platform").len().iter_rows())
    assert platforms == {"facebook": 81566, "twitter": 112757}
    assert set(result.rejects["reason"]) == {"missing post_id"}


@requires_reference
@pytest.mark.reference
def test_reference_simulated_inputs_all_accepted() -> None:
    sim = REFERENCE / "coortweet" / "simulated"
    for path in sorted(sim.glob("*_input.csv.gz")):
        result = ingest(path)
        raw = pl.read_csv(path, infer_schema=False)
        assert result.rows == {
            "input": raw.height,
            "accepted": raw.height,
            "rejected": 0,
            "duplicates": 0,
        }
