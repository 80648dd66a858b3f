"""URL, hashtag, mention and timestamp normalisation."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordscope.datasets.normalize import (
    is_shortener,
    normalize_hashtags,
    normalize_mentions,
    normalize_url_lists,
    normalize_urls,
    parse_timestamps,
    remove_dot_segments,
)

# (as exported, normalised) — real-looking URLs
URL_TABLE = [
    ("https://www.example.com/news/story-1/", "https://example.com/news/story-1"),
    ("HTTPS://WWW.EXAMPLE.COM/News/Story", "https://example.com/News/Story"),  # path case kept
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("https://example.com/a?utm_source=twitter&utm_medium=social", "https://example.com/a"),
    ("https://example.com/a?id=3&utm_campaign=x&page=2", "https://example.com/a?id=3&page=2"),
    ("https://example.com/a?fbclid=IwAR0abc", "https://example.com/a"),
    (
        "https://www.instagram.com/p/Cabc123/?igshid=MzRlODBiNWFlZA==",
        "https://instagram.com/p/Cabc123",
    ),
    (
        "https://open.spotify.com/track/4uLU6hMC?si=9f8e7d",
        "https://open.spotify.com/track/4uLU6hMC",
    ),
    ("https://example.com/shop?gclid=Cj0KCQ&q=shoes", "https://example.com/shop?q=shoes"),
    ("https://example.com/page#section-2", "https://example.com/page"),
    ("https://example.com/", "https://example.com"),
    ("https://example.com", "https://example.com"),
    (
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
        "https://youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
    ),
    ("  https://bit.ly/3abcDEF  ", "https://bit.ly/3abcDEF"),
    ("https://t.co/AbC123xyz", "https://t.co/AbC123xyz"),
    ("example.com/no-scheme", "example.com/no-scheme"),
    (
        "https://de.wikipedia.org/wiki/Bundestagswahl_2021",
        "https://de.wikipedia.org/wiki/Bundestagswahl_2021",
    ),
    # RFC 3986 section 6.2.2: case, percent-encoding and path-segment normalisation
    ("HTTP://Example.com:443/a/../b/?b=2&a=1", "http://example.com:443/b?b=2&a=1"),  # order kept
    ("https://example.com/%7euser", "https://example.com/~user"),
    ("https://example.com/~user", "https://example.com/~user"),
    ("https://example.com/a%2fb%c3%bc", "https://example.com/a%2Fb%C3%BC"),  # reserved: kept
    ("https://example.com/%41%42c?q=%7E%3d", "https://example.com/ABc?q=~%3D"),
    ("eXAMPLE://a/./b/../b/%63/%7bfoo%7d", "example://a/b/c/%7Bfoo%7D"),  # section 6.2.2
    ("http://a/b/c/./../../g", "http://a/g"),  # section 5.2.4
    ("https://example.com/a/%2E%2E/b", "https://example.com/b"),  # an escaped dot segment
    ("https://user:secret@Example.com/x", "https://example.com/x"),  # user-info dropped
    ("https://example.com:/x", "https://example.com/x"),  # an empty port
    ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),  # IDNA: one key in both forms
    ("https://www.xn--bcher-kva.de/x", "https://xn--bcher-kva.de/x"),
]


def _norm(urls: list[str]) -> list[str]:
    frame = pl.DataFrame({"u": [urls]}, schema={"u": pl.List(pl.String)})
    return frame.select(normalize_urls(pl.col("u"))).to_series()[0].to_list()


@pytest.mark.parametrize(("raw", "expected"), URL_TABLE)
def test_url_table(raw: str, expected: str) -> None:
    assert _norm([raw]) == [expected]


def test_url_lists_per_distinct_url_give_the_same_table() -> None:
    # the ingest path (each distinct URL once) and the expression agree on every case
    raw = pl.Series("u", [[r for r, _ in URL_TABLE], [URL_TABLE[-1][0], URL_TABLE[0][0]]])
    out, shortened = normalize_url_lists(raw)
    assert out.to_list() == [[e for _, e in URL_TABLE], [URL_TABLE[-1][1], URL_TABLE[0][1]]]
    assert shortened == 2  # bit.ly and t.co


def test_remove_dot_segments_rfc3986_examples() -> None:
    # the normal examples of RFC 3986 section 5.4.1 resolved against http://a/b/c/d;p?q,
    # whose merged paths go through remove_dot_segments
    cases = {
        "/b/c/./g": "/b/c/g", "/b/c/./": "/b/c/", "/b/c/../": "/b/", "/b/c/../g": "/b/g",
        "/b/c/../..": "/", "/b/c/../../": "/", "/b/c/../../g": "/g", "/b/c/../../../g": "/g",
        "/./g": "/g", "/../g": "/g", "/b/c/g.": "/b/c/g.", "/b/c/.g": "/b/c/.g",
        "/b/c/g..": "/b/c/g..", "/b/c/..g": "/b/c/..g", "/b/c/./../g": "/b/g",
        "/b/c/./g/.": "/b/c/g/", "/b/c/g/./h": "/b/c/g/h", "/b/c/g/../h": "/b/c/h",
    }  # fmt: skip
    assert {k: remove_dot_segments(k) for k in cases} == cases


def test_empty_and_null_urls_never_become_keys() -> None:
    frame = pl.DataFrame(
        {"u": [["", "   ", "https://a.example/x"], None, []]}, schema={"u": pl.List(pl.String)}
    )
    out = frame.select(normalize_urls(pl.col("u"))).to_series().to_list()
    assert out == [["https://a.example/x"], [], []]


def test_shorteners_are_flagged_not_resolved() -> None:
    urls = [
        "https://bit.ly/x", "https://www.t.co/y", "https://example.com/z",
        "https://t.me/channel/5", "https://youtu.be/dQw4w9WgXcQ",  # ordinary links
    ]  # fmt: skip
    s = pl.DataFrame({"u": urls})
    flags = s.select(is_shortener(pl.col("u"))).to_series().to_list()
    assert flags == [True, True, False, False, False]


def test_hashtags_and_mentions() -> None:
    frame = pl.DataFrame(
        {"h": [["#Ukraine", "StandWith", "", "＃Full"]], "m": [["@BBCWorld", "12345", "@"]]},
        schema={"h": pl.List(pl.String), "m": pl.List(pl.String)},
    )
    out = frame.select(normalize_hashtags(pl.col("h")), normalize_mentions(pl.col("m"))).row(0)
    assert out == (["ukraine", "standwith", "full"], ["bbcworld", "12345"])


TS_TABLE = [
    ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("2024-03-01T10:00:00.250Z", datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC), False),
    ("2024-03-01 12:00:00+02:00", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("2024-03-01T05:00:00-0500", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("2024-03-01T10:00:00", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), True),
    ("2024-03-01 10:00", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), True),
    ("2024-03-01", datetime(2024, 3, 1, 0, 0, 0, tzinfo=UTC), True),
    ("Fri Mar 01 10:00:00 +0000 2024", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("1709287200", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("1709287200.5", datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC), False),
    ("1709287200000", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("2024-03-01 10:00:00 UTC", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("2024-03-01T10:00:00.5Z", datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC), False),
    ("2024-03-01 10:00:00Z", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), False),
    ("2024-03-01T10:00:00.123456789Z", datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC), False),
]


@pytest.mark.parametrize(("raw", "expected", "naive"), TS_TABLE)
def test_timestamp_table(raw: str, expected: datetime, naive: bool) -> None:
    ts, is_naive = parse_timestamps(pl.Series("ts", [raw]))
    assert ts.dtype == pl.Datetime("us", "UTC")
    assert ts[0] == expected
    assert bool(is_naive[0]) is naive


def test_timestamps_not_understood_are_null() -> None:
    values = [
        "soon",
        "",
        None,
        "2024-13-45T00:00:00Z",
        "2023-02-30T00:00:00Z",
        "2024-03-01T25:00:00Z",
    ]
    ts, naive = parse_timestamps(pl.Series("ts", values))
    assert ts.to_list() == [None] * 6
    assert naive.to_list() == [False] * 6


def test_datetime_input_converted_to_utc() -> None:
    aware = pl.Series("ts", [datetime(2024, 3, 1, 12, 0)]).dt.replace_time_zone("Europe/Berlin")
    ts, naive = parse_timestamps(aware)
    assert ts[0] == datetime(2024, 3, 1, 11, 0, tzinfo=UTC) and not naive[0]
    plain = pl.Series("ts", [datetime(2024, 3, 1, 12, 0)])
    ts, naive = parse_timestamps(plain)
    assert ts[0] == datetime(2024, 3, 1, 12, 0, tzinfo=UTC) and naive[0]


url_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~/?=&#", max_size=30)


@given(host=st.from_regex(r"[a-zA-Z0-9]{1,10}\.(com|org|de)", fullmatch=True), rest=url_parts)
def test_url_normalisation_is_idempotent_and_never_empty(host: str, rest: str) -> None:
    url = f"https://{host}/{rest}"
    once = _norm([url])
    assert once and all(u != "" for u in once)
    assert _norm(once) == once


@given(st.lists(st.text(max_size=8), max_size=6))
def test_lists_never_hold_empty_strings(items: list[str]) -> None:
    frame = pl.DataFrame({"h": [items]}, schema={"h": pl.List(pl.String)})
    out = frame.select(normalize_hashtags(pl.col("h")), normalize_urls(pl.col("h").alias("u"))).row(
        0
    )
    for values in out:
        assert all(v.strip() != "" for v in values)
