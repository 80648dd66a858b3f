"""The X/Twitter Information Operations archive reader and writer on a hand-made tweets
CSV shaped like the published archives: every value checked, every row accounted for."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coordscope import ingest
from coordscope.datasets import twitter_io, writers
from coordscope.datasets.formats import detect_format
from coordscope.errors import InputError
from coordscope.schema import EVENT_SCHEMA, validate_events
from tests.conftest import FIXTURES, assert_accounting, event_rows, expected_event
from tests.conftest import head as _head
from tests.conftest import rejects_of as _rejects
from tests.conftest import utc as _utc

ARCHIVE = FIXTURES / "twitter_io" / "io_archive_tweets.csv"
OTHERS = sorted(p for p in FIXTURES.glob("*/*") if p.parent.name != "twitter_io" and p.is_file())
FIELDS = tuple(EVENT_SCHEMA)

HASH1 = "5f2d8e2b8a1c4e9d7b3a6f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c"
HASH2 = "a9c3e1f7b2d4068e5c1a3f9b7d2e4c6a8b0d1e3f5a7c9b2d4e6f8a0c1e3b5d7f"
PAMELA = {"actor_id": "2882331822", "actor_name": "Pamela_Moore13",
          "actor_created": datetime(2014, 11, 20, tzinfo=UTC)}  # fmt: skip
JENNA = {"actor_id": "4224912857", "actor_name": "Jenn_Abrams",
         "actor_created": datetime(2015, 11, 19, tzinfo=UTC)}  # fmt: skip
ORIGINAL = "783679123456789504"


def _event(**values: Any) -> dict[str, Any]:
    return expected_event(FIELDS, **{"platform": "twitter", **values})


def _rows(events: pl.DataFrame, fields: tuple[str, ...] = FIELDS) -> list[dict[str, Any]]:
    return event_rows(events, fields)


def test_archive_every_value() -> None:
    result = ingest(ARCHIVE)
    assert result.inputs[0]["format"] == "twitter-io"
    # 8 data rows: an empty tweet_time, an unreadable one, the first row repeated
    assert result.rows == {"input": 8, "accepted": 5, "rejected": 2, "duplicates": 1}
    assert_accounting(result.rows)
    assert _rejects(result) == [
        (6, "missing ts"),
        (7, "field 'ts': timestamp not understood: '05/10/2019 2:23 PM'"),
    ]
    validate_events(result.events)
    anon = {"actor_created": datetime(2016, 1, 4, tzinfo=UTC)}
    assert _rows(result.events) == [
        _event(
            event_id=ORIGINAL, **PAMELA, ts=_utc(2016, 10, 5, 14, 23),  # minutes only
            text="Early voting starts today! Find your polling place https://t.co/xYz12AbC "
            "#Election2016 #MAGA",
            urls=["https://vote.example.org/find"], hashtags=["election2016", "maga"],
        ),
        _event(
            event_id="783679345678901248", **JENNA, ts=_utc(2016, 10, 5, 14, 24),
            kind="repost", object_id=ORIGINAL,
            text="RT @Pamela_Moore13: Early voting starts today! Find your polling place "
            "https://t.co/xYz12AbC #Election2016 #MAGA",
            urls=["https://vote.example.org/find"], hashtags=["election2016", "maga"],
            mentions=["2882331822"],
        ),
        _event(
            event_id="783680001234567168", actor_id=HASH1, actor_name=HASH1, **anon,
            ts=_utc(2016, 10, 5, 14, 27), kind="quote", object_id=ORIGINAL,
            text="Вот именно. https://t.co/Q1w2E3r4T5",
        ),
        _event(
            event_id="783681112345678848", **JENNA, ts=_utc(2016, 10, 5, 14, 31), kind="reply",
            object_id=ORIGINAL,
            text='@Pamela_Moore13 Exactly, and "they" know it.\nShare, share, share!',
            mentions=["2882331822"],
        ),
        _event(
            event_id="1126847001122334455", actor_id=HASH2, actor_name=HASH2, **anon,
            ts=_utc(2019, 5, 10, 14, 23, 41),  # with seconds
            text="#Hashtag1 #hashtag2 и снова https://example.ru/a",
            urls=["https://example.ru/a", "https://example.ru/b?x=1"],  # unquoted list
            hashtags=["hashtag1", "hashtag2"], mentions=["12345", "67890"],
        ),
    ]  # fmt: skip
    assert result.events.select("x_tweet_client_name", "x_tweet_language").rows() == [
        ("Twitter Web Client", "en"), ("TweetDeck", "en"), ("Twitter for Android", "ru"),
        ("TweetDeck", "en"), ("Twitter Web App", "ru"),
    ]  # fmt: skip
    # the archives document tweet_time as UTC: not counted as naive
    assert result.notes["naive_timestamps"] == 0


@pytest.mark.parametrize(
    ("cell", "items"),
    [
        ("[]", []),
        ("", []),
        (None, []),
        ("['hashtag1', 'hashtag2']", ["hashtag1", "hashtag2"]),
        ("[hashtag1, hashtag2]", ["hashtag1", "hashtag2"]),
        ('["it\'s", "a, b"]', ["it's", "a, b"]),  # quoted items may hold commas
        ("['https://example.com/a?x=1&y=2']", ["https://example.com/a?x=1&y=2"]),
        ("[12345, 67890]", ["12345", "67890"]),
        ("  [ 'a' ,'b' ]  ", ["a", "b"]),
        ("solo", ["solo"]),
    ],
)
def test_parse_bracketed(cell: str | None, items: list[str]) -> None:
    frame = pl.DataFrame({"c": [cell]}, schema={"c": pl.String})
    assert frame.select(twitter_io.parse_bracketed(pl.col("c"))).item().to_list() == items


def test_ids_written_as_floats(tmp_path: Path) -> None:
    path = tmp_path / "tweets.csv"
    path.write_text(
        "tweetid,userid,tweet_time,is_retweet,retweet_tweetid\n1.0,77.0,2019-01-01 00:00,true,5.0\n"
    )
    events = ingest(path).events
    assert events.select("event_id", "actor_id", "kind", "object_id").row(0) == (
        "1", "77", "repost", "5",
    )  # fmt: skip


def test_missing_columns_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "tweets.csv"
    path.write_text("tweetid,userid,text\n1,2,hello\n")
    with pytest.raises(InputError, match=r"missing column.*'tweet_time'"):
        twitter_io.read(str(path))


def test_sniff_own_fixture() -> None:
    assert twitter_io.sniff(_head(ARCHIVE))
    assert detect_format(str(ARCHIVE)) == "twitter-io"
    assert twitter_io.sniff('"tweetid","userid","tweet_time"\n')


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sniff_rejects_other_formats(path: Path) -> None:
    assert not twitter_io.sniff(_head(path))


# ---------------------------------------------------------------------------------------
# writing


def _canonical(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([_event(**r) for r in rows], schema=EVENT_SCHEMA)


EVENTS: list[dict[str, Any]] = [
    dict(event_id="100", actor_id="1", actor_name="alice", ts=_utc(2019, 5, 10, 14, 23),
         text="hello, world\nsecond line", urls=["https://example.com/a"],
         hashtags=["one", "it's"], actor_created=_utc(2012, 7, 1)),
    dict(event_id="101", actor_id=HASH1, actor_name=HASH1, ts=_utc(2019, 5, 10, 14, 24),
         kind="repost", object_id="100", text="RT @alice: hello", mentions=["1"]),
    dict(event_id="102", actor_id="3", actor_name="carol", ts=_utc(2019, 5, 10, 14, 25),
         kind="quote", object_id="100", text="yes"),
    dict(event_id="103", actor_id="3", actor_name="carol", ts=_utc(2019, 5, 10, 14, 26),
         kind="reply", object_id="999", text="@bob no", mentions=["bob"]),
]  # fmt: skip


@pytest.mark.parametrize("suffix", ["csv", "csv.gz"])
def test_round_trip_minutes(tmp_path: Path, suffix: str) -> None:
    events = _canonical(EVENTS)
    path = tmp_path / f"tweets.{suffix}"
    writers.twitter_io.write(events, str(path))
    result = ingest(path)
    assert result.inputs[0]["format"] == "twitter-io"
    assert result.rows == {"input": 4, "accepted": 4, "rejected": 0, "duplicates": 0}
    assert_accounting(result.rows)
    assert _rows(result.events) == _rows(events)
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if suffix.endswith("gz") else raw).decode("utf-8")
    table = pl.read_csv(text.encode(), infer_schema=False)
    assert table.columns == list(twitter_io.IO_COLUMNS)
    assert table["tweet_time"].to_list() == [
        "2019-05-10 14:23", "2019-05-10 14:24", "2019-05-10 14:25", "2019-05-10 14:26",
    ]  # fmt: skip
    assert table["hashtags"].to_list() == ["['one', \"it's\"]", "[]", "[]", "[]"]
    assert table["user_mentions"].to_list() == ["[]", "[1]", "[]", "['bob']"]
    assert table["is_retweet"].to_list() == ["False", "True", "False", "False"]
    assert table.row(1, named=True)["retweet_userid"] == "1"  # the retweeted author
    assert table.row(3, named=True)["in_reply_to_userid"] is None  # not in the data
    assert table["account_creation_date"].to_list() == ["2012-07-01", None, None, None]


def test_round_trip_seconds(tmp_path: Path) -> None:
    events = _canonical([
        dict(event_id="1", actor_id="9", ts=_utc(2020, 1, 1, 0, 0, 0), kind="comment",
             object_id="0"),
        dict(event_id="2", actor_id="9", ts=_utc(2020, 1, 1, 0, 0, 7), kind="forward",
             object_id="1"),
    ])  # fmt: skip
    path = tmp_path / "tweets.csv"
    writers.twitter_io.write(events, str(path))
    assert pl.read_csv(path, infer_schema=False)["tweet_time"].to_list() == [
        "2020-01-01 00:00:00", "2020-01-01 00:00:07",
    ]  # fmt: skip
    back = ingest(path).events
    # comment → reply, forward → retweet: the nearest thing the archive has
    assert back.select("ts", "kind", "object_id").rows() == [
        (_utc(2020, 1, 1, 0, 0, 0), "reply", "0"),
        (_utc(2020, 1, 1, 0, 0, 7), "repost", "1"),
    ]
