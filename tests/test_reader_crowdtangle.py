"""The CrowdTangle reader and writer on hand-made exports shaped like real ones (Facebook
page and group exports, Instagram): every value checked, every row accounted for."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coordscope import ingest
from coordscope.datasets import crowdtangle, writers
from coordscope.datasets.formats import detect_format
from coordscope.errors import InputError
from coordscope.schema import EVENT_SCHEMA, validate_events
from tests.conftest import FIXTURES, assert_accounting, event_rows, expected_event
from tests.conftest import head as _head
from tests.conftest import rejects_of as _rejects
from tests.conftest import utc as _utc

PAGE = FIXTURES / "crowdtangle" / "facebook_page_export.csv"
GROUP = FIXTURES / "crowdtangle" / "facebook_group_export.csv"
INSTAGRAM = FIXTURES / "crowdtangle" / "instagram_export.csv"
OTHERS = sorted(p for p in FIXTURES.glob("*/*") if p.parent.name != "crowdtangle" and p.is_file())
FIELDS = tuple(EVENT_SCHEMA)

DAILY = {
    "platform": "facebook", "actor_id": "100064123456789", "actor_name": "Daily News Now",
    "actor_created": datetime(2012, 4, 18, 13, 12, 33, tzinfo=UTC),  # 09:12:33 EDT
}  # fmt: skip
PATRIOTS = {
    "platform": "facebook", "actor_id": "101234567890123",
    "actor_name": "Patriots United Network",
    "actor_created": datetime(2020, 10, 1, 22, 0, 0, tzinfo=UTC),  # 18:00:00 EDT
}  # fmt: skip


def _event(**values: Any) -> dict[str, Any]:
    return expected_event(FIELDS, **values)


def _rows(events: pl.DataFrame, fields: tuple[str, ...] = FIELDS) -> list[dict[str, Any]]:
    return event_rows(events, fields)


# ---------------------------------------------------------------------------------------
# Facebook


def test_facebook_page_export_every_value() -> None:
    result = ingest(PAGE)
    assert result.inputs[0]["format"] == "crowdtangle"
    # 7 data rows: one unknown time zone, one post exported twice
    assert result.rows == {"input": 7, "accepted": 5, "rejected": 1, "duplicates": 1}
    assert_accounting(result.rows)
    assert _rejects(result) == [(5, "field 'Post Created': unknown time zone abbreviation 'XYZ'")]
    validate_events(result.events)
    assert _rows(result.events) == [
        _event(
            event_id="https://www.facebook.com/dailynewsnow/posts/4012345678901234", **DAILY,
            ts=_utc(2021, 1, 6, 19, 42, 5),  # 14:42:05 EST
            text="Breaking: crowds gather at the Capitol. Read more:",
            # Final Link (expanded) preferred over the bit.ly Link; utm_source dropped
            urls=["https://example.com/news/capitol?id=7"],
        ),
        _event(
            event_id="https://www.facebook.com/101234567890123/posts/2233445566778899",
            **PATRIOTS, ts=_utc(2021, 1, 6, 19, 42, 31),
            text='SHARE THIS NOW!!!\nThey don\'t want you to see it, "the truth", so share, '
            "share, share.\n#StopTheSteal #Jan6",
            urls=["https://example.com/news/capitol?id=7"], hashtags=["stopthesteal", "jan6"],
        ),
        _event(
            event_id="https://www.facebook.com/dailynewsnow/photos/a.1122334455/4012345678909999/",
            **DAILY, ts=_utc(2021, 1, 6, 20, 3, 10), text="Photo of the day",
            # a Photo post's Link is the photo: media, not a shared URL
            media=["https://www.facebook.com/dailynewsnow/photos/a.1122334455/4012345678909999/"],
        ),
        _event(
            event_id="https://www.facebook.com/101234567890123/posts/2233445566770000",
            **PATRIOTS, ts=_utc(2021, 1, 6, 20, 10, 0),
            text="Praying for our country tonight.",  # empty Link: no URL
        ),
        _event(
            event_id="https://www.facebook.com/dailynewsnow/videos/556677889900/", **DAILY,
            ts=_utc(2021, 7, 4, 14, 15, 0),  # 10:15:00 EDT
            text="Fireworks, live.", urls=["https://facebook.com/dailynewsnow/videos/556677889900"],
        ),
    ]  # fmt: skip
    assert result.events.select("x_type", "x_total_interactions").rows() == [
        ("Link", 1234), ("Link", 87), ("Photo", 2901), ("Status", 12), ("Native Video", 10500),
    ]  # fmt: skip
    assert result.notes["naive_timestamps"] == 0


def test_facebook_group_export_with_bom() -> None:
    assert GROUP.read_bytes().startswith(b"\xef\xbb\xbf")
    result = ingest(GROUP)
    assert result.inputs[0]["format"] == "crowdtangle"
    assert result.rows == {"input": 2, "accepted": 2, "rejected": 0, "duplicates": 0}
    assert_accounting(result.rows)
    group = {"platform": "facebook", "actor_id": "412345678901234",
             "actor_name": "Bürger für Wahrheit"}  # fmt: skip
    assert _rows(result.events) == [
        _event(
            event_id="https://www.facebook.com/groups/412345678901234/permalink/998877665544332/",
            **group, ts=_utc(2020, 8, 29, 14, 5, 44),  # 16:05:44 CEST
            text="Alle nach Berlin! https://example.de/demo", urls=["https://example.de/demo"],
        ),
        _event(
            event_id="https://www.facebook.com/groups/412345678901234/permalink/998877665544999/",
            **group, ts=_utc(2020, 8, 29, 14, 6, 2),
            urls=["https://youtube.com/watch?v=abcDEF12345&feature=share"],
        ),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Instagram


def test_instagram_export_every_value() -> None:
    result = ingest(INSTAGRAM)
    assert result.rows == {"input": 3, "accepted": 3, "rejected": 0, "duplicates": 0}
    assert_accounting(result.rows)
    travel = {"platform": "instagram", "actor_id": "traveldaily", "actor_name": "Travel Daily"}
    assert _rows(result.events) == [
        _event(
            event_id="https://www.instagram.com/p/CMZr1abcDEF/", **travel,
            ts=_utc(2021, 3, 14, 15, 30, 0),  # 08:30 PDT
            text="Sunrise over the bay 🌅\nTag a friend, @wanderer.jane!\n#travel #Sunrise",
            hashtags=["travel", "sunrise"], mentions=["wanderer.jane"],
            # Link == URL: the post itself, not a shared URL
            media=["https://scontent.cdninstagram.com/v/t51.2885-15/e35/160412345_n.jpg"],
        ),
        _event(
            event_id="https://www.instagram.com/p/CMZs2xyzGHI/", platform="instagram",
            actor_id="wanderer.jane", actor_name="Wanderer Jane",
            ts=_utc(2021, 3, 14, 15, 31, 10), text="Same view, different day #travel",
            urls=["https://linktr.ee/wandererjane"], hashtags=["travel"],
            media=["https://scontent.cdninstagram.com/v/t51.2885-15/e35/160498765_n.jpg"],
        ),
        _event(
            event_id="https://www.instagram.com/p/CMc0VIDEO01/", **travel,
            ts=_utc(2021, 3, 15, 12, 0, 0),
        ),
    ]  # fmt: skip
    assert result.events["x_total_interactions"].to_list() == [5120, 310, 9876]


# ---------------------------------------------------------------------------------------
# time zones


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(crowdtangle.FACEBOOK_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in crowdtangle.FACEBOOK_COLUMNS})


def test_time_zone_abbreviations(tmp_path: Path) -> None:
    stamps = [
        ("2021-06-01 12:00:00 EDT", _utc(2021, 6, 1, 16, 0, 0)),
        ("2021-01-01 12:00:00 cet", _utc(2021, 1, 1, 11, 0, 0)),  # any case
        ("2021-01-01 12:00:00 IST", _utc(2021, 1, 1, 6, 30, 0)),  # India
        ("2021-01-01 12:00:00 CST", _utc(2021, 1, 1, 18, 0, 0)),  # US Central
        ("2021-01-01 12:00:00 GMT", _utc(2021, 1, 1, 12, 0, 0)),
        ("2021-01-01 12:00:00 +0100", _utc(2021, 1, 1, 11, 0, 0)),  # numeric offset
        ("2021-01-01 12:00:00", _utc(2021, 1, 1, 12, 0, 0)),  # no zone: naive, counted
    ]
    rows = [
        {"Facebook Id": "1", "URL": f"https://www.facebook.com/1/posts/{i}", "Post Created": s}
        for i, (s, _) in enumerate(stamps)
    ]
    # empty Post Created: the date and time columns instead (naive)
    rows.append({"Facebook Id": "1", "URL": "https://www.facebook.com/1/posts/90",
                 "Post Created Date": "2021-02-03", "Post Created Time": "04:05:06"})  # fmt: skip
    rows.append({"Facebook Id": "1", "URL": "https://www.facebook.com/1/posts/91",
                 "Post Created": "2021-02-03 04:05:06 ABC"})  # fmt: skip
    path = tmp_path / "export.csv"
    _write_rows(path, rows)
    result = ingest(path)
    assert result.rows == {"input": 9, "accepted": 8, "rejected": 1, "duplicates": 0}
    assert result.events["ts"].to_list() == [t for _, t in stamps] + [_utc(2021, 2, 3, 4, 5, 6)]
    assert result.notes["naive_timestamps"] == 2
    assert _rejects(result) == [(9, "field 'Post Created': unknown time zone abbreviation 'ABC'")]


# ---------------------------------------------------------------------------------------
# bad input and sniffing


def test_missing_columns_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Page Name,Facebook Id,Post Created\nA,1,2021-01-01 00:00:00 UTC\n")
    with pytest.raises(InputError, match=r"not a CrowdTangle export: missing column.*'URL'"):
        crowdtangle.read(str(path))


@pytest.mark.parametrize("path", [PAGE, GROUP, INSTAGRAM], ids=lambda p: p.name)
def test_sniff_own_fixtures(path: Path) -> None:
    assert crowdtangle.sniff(_head(path))
    assert detect_format(str(path)) == "crowdtangle"


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sniff_rejects_other_formats(path: Path) -> None:
    assert not crowdtangle.sniff(_head(path))


# ---------------------------------------------------------------------------------------
# writing


def _canonical(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([_event(**r) for r in rows], schema=EVENT_SCHEMA)


FB_EVENTS: list[dict[str, Any]] = [
    dict(event_id="https://www.facebook.com/555/posts/1", platform="facebook", actor_id="555",
         actor_name="Page, with comma", ts=_utc(2021, 1, 6, 19, 42, 5),
         text='Line one,\n"quoted" line two #Tag', urls=["https://example.com/a?id=1"],
         hashtags=["tag"], actor_created=_utc(2015, 5, 5, 5, 5, 5)),
    dict(event_id="https://www.facebook.com/555/photos/a.1/2/", platform="facebook",
         actor_id="555", actor_name="Page, with comma", ts=_utc(2021, 1, 6, 19, 43, 0),
         media=["https://www.facebook.com/555/photos/a.1/2/"],
         actor_created=_utc(2015, 5, 5, 5, 5, 5)),
    dict(event_id="https://www.facebook.com/777/posts/3", platform="facebook", actor_id="777",
         actor_name="Other", ts=_utc(2021, 1, 6, 19, 44, 0), text="status only"),
]  # fmt: skip


@pytest.mark.parametrize("suffix", ["csv", "csv.gz"])
def test_round_trip_facebook(tmp_path: Path, suffix: str) -> None:
    events = _canonical(FB_EVENTS)
    path = tmp_path / f"export.{suffix}"
    writers.crowdtangle.write(events, str(path))
    result = ingest(path)
    assert result.inputs[0]["format"] == "crowdtangle"
    assert result.rows == {"input": 3, "accepted": 3, "rejected": 0, "duplicates": 0}
    assert_accounting(result.rows)
    assert _rows(result.events) == _rows(events)
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if suffix.endswith("gz") else raw).decode("utf-8")
    header, first = text.split("\n")[:2]
    assert header.split(",") == list(crowdtangle.FACEBOOK_COLUMNS)
    assert first.startswith('"Page, with comma",,555,,,,2015-05-05 05:05:05 UTC,0,0,'
                            "2021-01-06 19:42:05 UTC,2021-01-06,19:42:05,Link,0,")  # fmt: skip
    assert result.events["x_type"].to_list() == ["Link", "Photo", "Status"]


def test_round_trip_instagram(tmp_path: Path) -> None:
    events = _canonical([
        dict(event_id="https://www.instagram.com/p/AAA/", platform="instagram",
             actor_id="someone", actor_name="Some One", ts=_utc(2021, 3, 1, 10, 0, 0),
             text="hello #Sun @friend.one", hashtags=["sun"], mentions=["friend.one"],
             media=["https://cdn.example/img1.jpg"]),
        dict(event_id="https://www.instagram.com/p/BBB/", platform="instagram",
             actor_id="other", ts=_utc(2021, 3, 1, 10, 0, 1), urls=["https://linktr.ee/x"]),
    ])  # fmt: skip
    path = tmp_path / "ig.csv"
    writers.crowdtangle.write(events, str(path))
    assert path.read_text().split("\n")[0].split(",") == list(crowdtangle.INSTAGRAM_COLUMNS)
    result = ingest(path)
    assert result.rows == {"input": 2, "accepted": 2, "rejected": 0, "duplicates": 0}
    expected = events.with_columns(pl.Series("actor_name", ["Some One", "other"]))
    assert _rows(result.events) == _rows(expected)  # a missing name is written as the id


def test_write_events_with_plain_ids(tmp_path: Path) -> None:
    """Ids that are not addresses become post addresses; kinds are not carried."""
    events = _canonical([
        dict(event_id="1001", platform="twitter", actor_id="a1", ts=_utc(2024, 3, 1, 0, 0, 0),
             kind="repost", object_id="1000", text="RT something"),
    ])  # fmt: skip
    path = tmp_path / "ct.csv"
    writers.crowdtangle.write(events, str(path))
    result = ingest(path)
    assert _rows(result.events) == [
        _event(event_id="https://www.facebook.com/a1/posts/1001", platform="facebook",
               actor_id="a1", actor_name="a1", ts=_utc(2024, 3, 1, 0, 0, 0),
               text="RT something")
    ]  # fmt: skip
