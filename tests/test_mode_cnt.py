"""The ``cnt`` counting mode: coordination-network-toolkit's directed networks, exactly.

Three kinds of evidence: hand-worked cases with the expected edges written down; a
brute-force transcription of the toolkit's SQL (``preprocess_data`` + the network
queries) that hypothesis compares against on small random inputs, including every chunk
size down to one pair; and exact parity with the toolkit's own outputs in
``../shared/reference/cnt``.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import coordscope
from benchmarks.cnt_workload import make_cnt_workload, run_cnt_coretweet
from coordscope.compat import _pair_counter, detect_cnt
from coordscope.compat import cnt as cnt_mode
from coordscope.compat.cnt import CNT_NETWORKS, cnt_edges, cnt_messages, toolkit_text
from coordscope.engine.kernel import count_band_pairs
from coordscope.errors import ParameterError, SchemaError
from tests.conftest import REFERENCE, requires_reference

NETWORKS = tuple(CNT_NETWORKS)
Edge = tuple[str, str, int]


# --------------------------------------------------------------------------------------
# the toolkit, transcribed: rows as its CSV reader yields them, the SQL as loops


@dataclass
class Row:
    """One toolkit CSV row (empty ``repost_id``/``reply_id`` cells are ``None``)."""

    message_id: str
    user_id: str
    timestamp: float
    repost_id: str | None = None
    reply_id: str | None = None
    message: str = ""
    urls: list[str] = field(default_factory=list)


# the regex module's ``\s`` (Unicode White_Space), used by the toolkit's mention pattern
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_MENTION = re.compile(rf"@.*?(?=(?:[{_WHITE_SPACE}]|$))")


def toolkit_preprocessor(text: str) -> str:
    """``similarity.message_preprocessor`` of the toolkit."""
    return " ".join(_MENTION.sub("", text.lower()).split())


def toolkit_edges(rows: Sequence[Row], network: str, window: float, min_w: int) -> set[Edge]:
    """The toolkit's edge table, by brute force (``O(n²)``).

    ``preprocess_data``: ``insert or ignore`` into ``edge`` (first row of a message id
    wins) and into ``message_url`` for every non-repost row (first (message, URL) wins,
    with that row's time and user; empty URLs left out, as in the reference outputs'
    ``_emptyurls_deleted`` tables). The network query: ``e_2.ts between e_1.ts - W and
    e_1.ts + W`` in floating point, ``count(distinct e_1.message_id)`` per (user_1,
    user_2), a message never matching itself (as the reference outputs do).
    """
    edge: dict[str, Row] = {}
    message_url: dict[tuple[str, str], tuple[float, str]] = {}
    for row in rows:
        edge.setdefault(row.message_id, row)
        if not row.repost_id:
            for url in row.urls:
                if url:
                    message_url.setdefault((row.message_id, url), (row.timestamp, row.user_id))
    items: list[tuple[str, str, float, str]] = []  # message, key, time, user
    if network == "co_link":
        items = [(m, url, ts, u) for (m, url), (ts, u) in message_url.items()]
    else:
        for row in edge.values():
            key: str | None = None
            if network == "co_retweet":
                key = row.repost_id or None
            elif network == "co_reply":
                key = row.reply_id if not row.repost_id else None
            elif network == "co_tweet":
                key = toolkit_preprocessor(row.message) if not row.repost_id else None
            elif network == "co_post":
                key = "*"
            if key:
                items.append((row.message_id, key, row.timestamp, row.user_id))
    matched: dict[tuple[str, str], set[str]] = defaultdict(set)
    for m1, k1, t1, u1 in items:
        for m2, k2, t2, u2 in items:
            if k1 == k2 and m1 != m2 and t1 - window <= t2 <= t1 + window:
                matched[(u1, u2)].add(m1)
    return {(a, b, len(ms)) for (a, b), ms in matched.items() if len(ms) >= min_w}


def events_of(rows: Sequence[Row]) -> pl.DataFrame:
    """What the ``cnt`` reader makes of the rows (the columns the mode reads)."""
    kinds = [
        "repost" if r.repost_id else "reply" if r.reply_id else "post" for r in rows
    ]  # fmt: skip
    return pl.DataFrame(
        {
            "event_id": [r.message_id for r in rows],
            "actor_id": [r.user_id for r in rows],
            "ts": [round(r.timestamp * 1_000_000) for r in rows],
            "kind": kinds,
            "object_id": [r.repost_id or r.reply_id for r in rows],
            "text": [r.message or None for r in rows],
            "x_urls_raw": [[u for u in r.urls if u] for r in rows],
        },
        schema={
            "event_id": pl.String,
            "actor_id": pl.String,
            "ts": pl.Int64,
            "kind": pl.String,
            "object_id": pl.String,
            "text": pl.String,
            "x_urls_raw": pl.List(pl.String),
        },
    ).with_columns(pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))


def edges(
    events: pl.DataFrame, network: str, window: float, min_w: int = 1, **kw: int
) -> set[Edge]:
    out = cnt_edges(events, network=network, window=window, min_edge_weight=min_w, **kw)
    return set(out.rows())


def check_sorted(frame: pl.DataFrame) -> None:
    rows = [(a, b) for a, b, _ in frame.rows()]
    assert rows == sorted(rows), "edges are not sorted by user_1, user_2"
    assert len(set(rows)) == len(rows), "an edge appears twice"


# --------------------------------------------------------------------------------------
# hand-worked cases


def test_co_retweet_by_hand() -> None:
    # r1: A at 0, B at 10, C at 25; r2: A at 100, B at 100, A again at 160 (W = 60)
    rows = [
        Row("1", "A", 0, repost_id="r1"),
        Row("2", "B", 10, repost_id="r1"),
        Row("3", "C", 25, repost_id="r1"),
        Row("4", "A", 100, repost_id="r2"),
        Row("5", "B", 100, repost_id="r2"),
        Row("6", "A", 160, repost_id="r2"),
    ]
    # W = 10: A-B on r1 (gap exactly 10 counts), A-B on r2 (same second); A→A: 4 and 6
    # are 60 apart, out of the window
    assert edges(events_of(rows), "co_retweet", 10) == {("A", "B", 2), ("B", "A", 2)}
    # W = 60: on r2, messages 4 and 6 match each other (A → A twice); B's message 5 matches
    # A's 4 and 6 but counts once; A's messages 4 and 6 both match B's 5
    expected = {
        ("A", "B", 3), ("B", "A", 2), ("A", "C", 1), ("C", "A", 1),
        ("B", "C", 1), ("C", "B", 1), ("A", "A", 2),
    }  # fmt: skip
    assert edges(events_of(rows), "co_retweet", 60) == expected
    assert edges(events_of(rows), "co_retweet", 60, min_w=2) == {
        ("A", "B", 3), ("B", "A", 2), ("A", "A", 2),
    }  # fmt: skip


def test_window_is_inclusive_and_a_message_never_matches_itself() -> None:
    rows = [Row("1", "A", 0, repost_id="r"), Row("2", "B", 5, repost_id="r")]
    assert edges(events_of(rows), "co_retweet", 5) == {("A", "B", 1), ("B", "A", 1)}
    assert edges(events_of(rows), "co_retweet", 4.999) == set()
    one = [Row("1", "A", 0, repost_id="r")]
    assert edges(events_of(one), "co_retweet", 60) == set()  # no self-loop from itself
    assert edges(events_of(one), "co_post", 60) == set()


def test_equal_times_and_one_account() -> None:
    rows = [Row(str(i), "A", 7, repost_id="r") for i in range(4)]
    assert edges(events_of(rows), "co_retweet", 0) == {("A", "A", 4)}
    assert edges(events_of(rows), "co_post", 0) == {("A", "A", 4)}


def test_floating_point_window_as_the_toolkit_compares() -> None:
    # 0.1 + 0.3 == 0.4 but 0.4 - 0.3 > 0.1: A's message matches B's, not the other way
    rows = [Row("1", "A", 0.1, repost_id="r"), Row("2", "B", 0.4, repost_id="r")]
    assert edges(events_of(rows), "co_retweet", 0.3) == {("A", "B", 1)}
    # 0.1 + 0.7 < 0.8 and 0.8 - 0.7 > 0.1: no match either way, though 0.8 - 0.1 = 0.7
    rows = [Row("1", "A", 0.1, repost_id="r"), Row("2", "B", 0.8, repost_id="r")]
    assert edges(events_of(rows), "co_retweet", 0.7) == set()
    # whole seconds are exact
    rows = [Row("1", "A", 1, repost_id="r"), Row("2", "B", 8, repost_id="r")]
    assert edges(events_of(rows), "co_retweet", 7) == {("A", "B", 1), ("B", "A", 1)}


def test_duplicate_message_ids_keep_the_first_row() -> None:
    rows = [
        Row("1", "A", 0, repost_id="r"),
        Row("2", "B", 5, repost_id="r"),
        Row("2", "C", 6, repost_id="r"),  # ignored: message 2 exists (insert or ignore)
    ]
    assert edges(events_of(rows), "co_retweet", 10) == {("A", "B", 1), ("B", "A", 1)}


def test_co_link_urls_as_written_each_message_once() -> None:
    rows = [
        Row("1", "A", 0, urls=["http://x.org/a", "http://x.org/a"]),  # duplicate URL
        Row("2", "B", 5, urls=["http://x.org/a", "http://y.org/"]),  # two matching URLs
        Row("3", "C", 6, urls=["http://y.org/"]),
        Row("4", "D", 7, urls=["HTTP://x.org/a"]),  # compared as written: no match
        Row("5", "E", 8, repost_id="rt", urls=["http://y.org/"]),  # a repost: no URLs
        Row("6", "F", 9, urls=[]),  # no URL: never the toolkit's '' artifact
        Row("7", "G", 9, urls=[]),
    ]
    expected = {
        ("A", "B", 1), ("B", "A", 1), ("B", "C", 1), ("C", "B", 1),
    }  # fmt: skip
    assert edges(events_of(rows), "co_link", 10) == expected
    assert edges(events_of(rows), "co_link", 10) == toolkit_edges(rows, "co_link", 10, 1)


def test_co_link_message_with_two_urls_counts_once_per_partner() -> None:
    # A's one message shares both URLs with B's two messages: A → B counts one message
    rows = [
        Row("1", "A", 0, urls=["u1", "u2"]),
        Row("2", "B", 1, urls=["u1"]),
        Row("3", "B", 2, urls=["u2"]),
    ]
    assert edges(events_of(rows), "co_link", 5) == {("A", "B", 1), ("B", "A", 2)}


def test_co_tweet_text_rule() -> None:
    rows = [
        Row("1", "A", 0, message="Hello World @someone"),
        Row("2", "B", 1, message="hello \t  world"),
        Row("3", "C", 2, message="HELLO WORLD!"),  # the '!' stays: another text
        Row("4", "D", 3, message="@only @mentions"),  # empty after preprocessing: no key
        Row("5", "E", 3, message=""),
        Row("6", "F", 4, repost_id="r", message="hello world"),  # reposts are left out
    ]
    assert edges(events_of(rows), "co_tweet", 10) == {("A", "B", 1), ("B", "A", 1)}


def test_co_reply_and_co_post_message_choice() -> None:
    rows = [
        Row("1", "A", 0, reply_id="p"),
        Row("2", "B", 1, reply_id="p"),
        Row("3", "C", 2, repost_id="q", reply_id="p"),  # a repost: not a reply here
        Row("4", "D", 3),
    ]
    assert edges(events_of(rows), "co_reply", 10) == {("A", "B", 1), ("B", "A", 1)}
    got = edges(events_of(rows), "co_post", 1)  # every message, any key
    assert got == {
        ("A", "B", 1), ("B", "A", 1), ("B", "C", 1), ("C", "B", 1),
        ("C", "D", 1), ("D", "C", 1),
    }  # fmt: skip


def test_min_edge_weight_is_per_direction() -> None:
    rows = [
        Row("1", "A", 0, repost_id="r"),
        Row("2", "A", 2, repost_id="r"),
        Row("3", "B", 1, repost_id="r"),
    ]
    assert edges(events_of(rows), "co_retweet", 5, min_w=2) == {("A", "B", 2), ("A", "A", 2)}


def test_empty_input_and_result_schema() -> None:
    out = cnt_edges(events_of([]), network="co_retweet", window=60)
    assert out.height == 0
    assert out.columns == ["user_1", "user_2", "weight"]
    assert out.schema["weight"] == pl.UInt32
    none = events_of([Row("1", "A", 0)])  # a post: no repost, no co_retweet message
    assert cnt_edges(none, network="co_retweet", window=60).height == 0


def test_output_is_sorted_enum_and_input_unchanged() -> None:
    rows = [Row(str(i), f"u{(i * 7) % 5}", i % 9, repost_id=f"r{i % 3}") for i in range(40)]
    events = events_of(rows)
    before = events.clone()
    out = cnt_edges(events, network="co_retweet", window=4)
    assert events.equals(before)
    check_sorted(out)
    assert isinstance(out.schema["user_1"], pl.Enum)
    assert out.schema["user_1"] == out.schema["user_2"]
    assert out["user_1"].cast(pl.String).to_list() == [a for a, _, _ in out.rows()]


def test_shuffled_rows_give_the_same_edges() -> None:
    rows = [Row(str(i), f"u{(i * 7) % 6}", (i * 13) % 50, repost_id=f"r{i % 4}") for i in range(80)]
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    for network in ("co_retweet", "co_post"):
        assert edges(events_of(rows), network, 7) == edges(events_of(shuffled), network, 7)


def test_parameters_are_checked() -> None:
    events = events_of([Row("1", "A", 0, repost_id="r")])
    with pytest.raises(ParameterError, match="similarity_threshold"):
        cnt_edges(events, network="co_similar_tweet", window=60, similarity_threshold=0)
    with pytest.raises(ParameterError, match="unknown cnt network"):
        cnt_edges(events, network="co_share", window=60)
    with pytest.raises(ParameterError, match="window"):
        cnt_edges(events, network="co_retweet", window=-1)
    with pytest.raises(ParameterError, match="window"):
        cnt_edges(events, network="co_retweet", window=float("nan"))
    with pytest.raises(ParameterError, match="min_edge_weight"):
        cnt_edges(events, network="co_retweet", window=60, min_edge_weight=0)
    with pytest.raises(ParameterError, match="max_pairs"):
        cnt_edges(events, network="co_retweet", window=60, max_pairs=0)
    with pytest.raises(SchemaError, match="text"):
        cnt_edges(events.drop("text"), network="co_tweet", window=60)


def test_network_names() -> None:
    assert CNT_NETWORKS == {
        "co_retweet": "co_share", "co_tweet": "co_text", "co_reply": "co_reply",
        "co_link": "co_link", "co_post": "co_post",
    }  # fmt: skip


def test_messages_table() -> None:
    rows = [Row("1", "A", 0, urls=["a", "b", "a"]), Row("1", "B", 1, urls=["a", "c"])]
    out = cnt_messages(events_of(rows), network="co_link")
    # (message, URL) once, first row wins; B's row adds its new URL with B as the account
    assert out.select("key", "actor_id", "unit").rows() == [
        ("a", "A", 0), ("b", "A", 0), ("c", "B", 1),
    ]  # fmt: skip


# --------------------------------------------------------------------------------------
# the text rule against the toolkit's preprocessor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello World @someone", "hello world"),
        ("hello   world", "hello world"),
        ("@a @b", ""),
        ("mail me@example.org now", "mail me now"),
        ("say @you! again", "say again"),
        ("a\tb\nc\x1cd", "a b c d"),  # \x1c is white space to str.split ...
        ("x @y\x1cz w", "x w"),  # ... but not to the mention pattern
        ("tail @x\n", "tail"),
        ("ΣΑΣ Σ", "σας σ"),
        ("  https://X.org/A  ", "https://x.org/a"),
    ],
)
def test_toolkit_text(text: str, expected: str) -> None:
    assert toolkit_preprocessor(text) == expected
    got = pl.select(toolkit_text(pl.lit(text))).item()
    assert got == expected


_TEXT_ALPHABET = "aAbZ@ !.\t\n\x1c\x85\xa0\u2003\u3000Σσς"


@given(st.lists(st.text(alphabet=_TEXT_ALPHABET, max_size=12), min_size=1, max_size=20))
@settings(max_examples=150, deadline=None)
def test_toolkit_text_matches_the_preprocessor(texts: list[str]) -> None:
    got = pl.Series(texts, dtype=pl.String).to_frame("t").select(toolkit_text(pl.col("t")))
    assert got.to_series().to_list() == [toolkit_preprocessor(t) for t in texts]


# --------------------------------------------------------------------------------------
# property tests against the transcribed toolkit

_times = st.one_of(
    st.integers(0, 40).map(float),  # whole seconds: ties at the window and equal times
    st.integers(0, 400).map(lambda x: x / 10),  # tenths: floating-point edges
)
_rows = st.builds(
    Row,
    message_id=st.integers(0, 25).map(str),  # repeats: first row wins
    user_id=st.sampled_from(["A", "B", "C", "D"]),
    timestamp=_times,
    repost_id=st.sampled_from([None, None, "r1", "r2"]),
    reply_id=st.sampled_from([None, None, "p1", "p2"]),
    message=st.sampled_from(["", "hi", "Hi @x", "HI", "hi there", "@x"]),
    urls=st.lists(st.sampled_from(["u1", "u2", "u3"]), max_size=3),
)


@given(
    rows=st.lists(_rows, max_size=30),
    network=st.sampled_from(NETWORKS),
    window=st.sampled_from([0.0, 0.3, 1.0, 2.5, 5.0, 10.0, 0.7]),
    min_w=st.sampled_from([1, 1, 2, 3]),
    max_pairs=st.sampled_from([1, 2, 7, 1_000_000]),
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_matches_the_toolkit(
    rows: list[Row], network: str, window: float, min_w: int, max_pairs: int
) -> None:
    out = cnt_edges(
        events_of(rows), network=network, window=window, min_edge_weight=min_w,
        max_pairs=max_pairs,
    )  # fmt: skip
    check_sorted(out)
    assert set(out.rows()) == toolkit_edges(rows, network, window, min_w)


@given(
    rows=st.lists(_rows, max_size=30),
    network=st.sampled_from(NETWORKS),
    window=st.sampled_from([0.0, 1.0, 2.5, 10.0]),
    block=st.sampled_from([1, 2, 3, 5]),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_matches_the_toolkit_in_tiny_blocks(
    rows: list[Row], network: str, window: float, block: int
) -> None:
    # the final passes walk the sorted pair counts in blocks that never split a pair's
    # counts (2**18 of them in production): tiny blocks put every boundary case in play
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_pair_counter, "_BLOCK", block)
        out = cnt_edges(events_of(rows), network=network, window=window, max_pairs=3)
    check_sorted(out)
    assert set(out.rows()) == toolkit_edges(rows, network, window, 1)


def test_too_many_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cnt_mode, "MAX_USERS", 2)
    rows = [Row(str(i), f"u{i}", 0, repost_id="r") for i in range(3)]
    with pytest.raises(ParameterError, match="at most 2 accounts"):
        cnt_edges(events_of(rows), network="co_retweet", window=1)


@given(
    users=st.lists(st.sampled_from("ABCDEFGH"), min_size=2, max_size=40),
    times=st.lists(st.integers(0, 30), min_size=40, max_size=40),
    window=st.integers(0, 12),
    max_pairs=st.sampled_from([1, 3, 50]),
)
@settings(max_examples=150, deadline=None)
def test_one_busy_key_any_chunking(
    users: list[str], times: list[int], window: int, max_pairs: int
) -> None:
    # one key shared by accounts acting once or several times: a (message, account) pair
    # met in several chunks is still counted once
    rows = [Row(str(i), u, float(times[i]), repost_id="r") for i, u in enumerate(users)]
    got = edges(events_of(rows), "co_retweet", window, max_pairs=max_pairs)
    assert got == toolkit_edges(rows, "co_retweet", window, 1)


def test_viral_key_every_account_once() -> None:
    # the viral shape: every account reposts once; each in-window pair is one edge each way
    n = 300
    rows = [Row(str(i), f"u{i:03d}", float(i // 3), repost_id="v") for i in range(n)]
    events = events_of(rows)
    out = cnt_edges(events, network="co_retweet", window=4, max_pairs=97)
    check_sorted(out)
    t = np.array([i // 3 for i in range(n)], dtype=np.int64) * 1_000_000
    pairs = count_band_pairs(np.zeros(n, dtype=np.int64), t, 4_000_000)
    assert out.height == 2 * pairs
    assert set(out["weight"].to_list()) == {1}
    assert set(out.rows()) == toolkit_edges(rows, "co_retweet", 4, 1)


def _join_reference(events: pl.DataFrame, network: str, window: int) -> set[Edge]:
    """An independent reference for mid-sized inputs: a polars self-join on the key."""
    messages = cnt_messages(events, network=network)
    m = messages.with_columns(pl.col("t") // 1_000_000)  # whole seconds in these tests
    joined = m.join(m, on="key", suffix="_2").filter(
        (pl.col("unit") != pl.col("unit_2")) & ((pl.col("t") - pl.col("t_2")).abs() <= window)
    )
    out = joined.group_by("actor_id", "actor_id_2").agg(pl.col("unit").n_unique())
    return {(a, b, int(w)) for a, b, w in out.iter_rows()}


@pytest.mark.parametrize(
    ("network", "trial"), [("co_retweet", 1), ("co_retweet", 2), ("co_retweet", 3), ("co_post", 1)]
)
def test_mid_sized_random_input(network: str, trial: int) -> None:
    # repeated: the edge list is assembled by two threads, and a race between them (their
    # lists of multiply-counted edges interleaving) once failed about every other run
    rng = np.random.default_rng(5)
    n = 4000 if network == "co_retweet" else 1500
    rows = [
        Row(str(i), f"u{rng.integers(0, 300)}", float(rng.integers(0, 3000)),
            repost_id=f"r{rng.zipf(1.7) % 40}")
        for i in range(n)
    ]  # fmt: skip
    events = events_of(rows)
    got = edges(events, network, 30, max_pairs=5000, workers=2)  # threaded on any machine
    assert got == _join_reference(events, network, 30)


@st.composite
def _small_rows(draw: st.DrawFn) -> list[Row]:
    """Up to 30 rows over 1-4 accounts and 1-3 keys, times on a grid (many ties)."""
    n_actors = draw(st.integers(1, 4))
    n_keys = draw(st.integers(1, 3))
    items = draw(
        st.lists(
            st.tuples(
                st.integers(0, 30),  # message id: repeats keep their first row
                st.integers(0, 99),  # account
                st.integers(0, 99),  # key
                st.integers(0, 12).map(float) | st.integers(0, 60).map(lambda x: x / 5),
                st.sampled_from(["repost", "reply", "post"]),
                st.lists(st.integers(0, 99), max_size=2),  # URLs
            ),
            max_size=30,
        )
    )
    return [
        Row(str(m), f"u{a % n_actors}", t,
            repost_id=f"r{k % n_keys}" if kind == "repost" else None,
            reply_id=f"p{k % n_keys}" if kind == "reply" else None,
            message=f"text {k % n_keys}", urls=[f"u{x % n_keys}" for x in urls])
        for m, a, k, t, kind, urls in items
    ]  # fmt: skip


@given(
    rows=_small_rows(),
    network=st.sampled_from(NETWORKS),
    window=st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.4, 2.6]),
    block=st.sampled_from([1, 2, 3, 1 << 18]),
    max_pairs=st.sampled_from([1, 3, 1_000_000]),
)
@example(rows=[], network="co_retweet", window=1.0, block=1, max_pairs=1)  # empty input
@example(  # one account, one key, one second: every pair a self-loop, all at the window
    rows=[Row(str(i), "A", 5.0, repost_id="r") for i in range(6)],
    network="co_retweet", window=0.0, block=1, max_pairs=1,
)  # fmt: skip
@example(  # gaps exactly at the window, several accounts on one key
    rows=[Row(str(i), "ABC"[i % 3], 2.0 * i, repost_id="r") for i in range(9)],
    network="co_retweet", window=2.0, block=1, max_pairs=2,
)  # fmt: skip
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_workers_do_not_change_the_result(
    rows: list[Row], network: str, window: float, block: int, max_pairs: int
) -> None:
    # the edge list is assembled on `workers` threads, each over its own range of blocks of
    # pair counts; tiny blocks give every thread some, and the output must be the same
    events = events_of(rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_pair_counter, "_BLOCK", block)
        outs = [
            cnt_edges(events, network=network, window=window, max_pairs=max_pairs, workers=w)
            for w in (1, 2, 3)
        ]
    for out in outs[1:]:
        assert out.schema == outs[0].schema
        assert out.equals(outs[0])
    assert set(outs[0].rows()) == toolkit_edges(rows, network, window, 1)


def test_workers_is_checked() -> None:
    events = events_of([Row("1", "A", 0, repost_id="r")])
    with pytest.raises(ParameterError, match="workers"):
        cnt_edges(events, network="co_retweet", window=60, workers=0)


# --------------------------------------------------------------------------------------
# the reader end to end, and parity with the toolkit's own outputs


def _write_toolkit_csv(path: Path, rows: Iterable[Row]) -> Path:
    lines = ["message_id,user_id,username,repost_id,reply_id,message,timestamp,urls"]
    for r in rows:
        lines.append(
            f"{r.message_id},{r.user_id},name_{r.user_id},{r.repost_id or ''},"
            f'{r.reply_id or ""},"{r.message}",{r.timestamp},"{" ".join(r.urls)}"'
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_from_a_toolkit_csv(tmp_path: Path) -> None:
    rows = [
        Row("1", "A", 0, urls=["http://a.example/x", "http://b.example/y"]),
        Row("2", "B", 4, urls=["http://a.example/x"]),
        Row("3", "C", 9.5, message="Same @text", urls=[]),
        Row("4", "D", 9.5, message="same text", urls=[]),
        Row("5", "A", 20, repost_id="t"),
        Row("6", "B", 80, repost_id="t"),
    ]
    events = coordscope.read_events(_write_toolkit_csv(tmp_path / "in.csv", rows))
    for network in NETWORKS:
        for window in (5, 60):
            assert edges(events, network, window) == toolkit_edges(rows, network, window, 1)


def _reference_cases() -> list[tuple[str, str]]:
    if not REFERENCE.is_dir():
        return [("missing", "missing")]
    cases = []
    for path in sorted((REFERENCE / "cnt").glob("*.expected_head.json")):
        for key in json.loads(path.read_text()):
            kind = key.split("|")[0]
            if (kind in NETWORKS and kind != "co_link") or kind == "co_link_emptyurls_deleted":
                cases.append((path.name.removesuffix(".expected_head.json"), key))
    return cases


_EVENTS: dict[str, pl.DataFrame] = {}


@requires_reference
@pytest.mark.reference
@pytest.mark.parametrize(("name", "key"), _reference_cases())
def test_reference_parity(name: str, key: str) -> None:
    kind, window, min_w = key.split("|")
    network = "co_link" if kind == "co_link_emptyurls_deleted" else kind
    expected = json.loads((REFERENCE / "cnt" / f"{name}.expected_head.json").read_text())[key]
    if name not in _EVENTS:
        _EVENTS[name] = coordscope.read_events(REFERENCE / "cnt" / f"{name}.csv")
    out = cnt_edges(
        _EVENTS[name], network=network, window=float(window.split("=")[1]),
        min_edge_weight=int(min_w.split("=")[1]),
    )  # fmt: skip
    check_sorted(out)
    assert set(out.rows()) == {tuple(e) for e in expected}
    assert out.height == len(expected)


@requires_reference
def test_reference_has_every_case() -> None:
    cases = _reference_cases()
    assert len(cases) == 2 * 5 * 4  # two files, five networks, W x min_w
    assert {k.split("|")[0] for _, k in cases} == {
        "co_retweet", "co_tweet", "co_reply", "co_post", "co_link_emptyurls_deleted",
    }  # fmt: skip


# --------------------------------------------------------------------------------------
# the benchmark workload generator


def test_workload_generator(tmp_path: Path) -> None:
    a = make_cnt_workload(tmp_path / "a.csv", rows=2500, viral=True, seed=7)
    b = make_cnt_workload(tmp_path / "b.csv", rows=2500, viral=True, seed=7)
    assert a.read_bytes() == b.read_bytes()  # deterministic by seed
    events = coordscope.read_events(a)  # recognised as a toolkit CSV
    assert events.height == 2500
    viral = events.filter(pl.col("object_id") == "viral")
    assert viral.height == 100
    assert viral["actor_id"].n_unique() == 100  # one repost per account
    span = viral.select(pl.col("ts").max() - pl.col("ts").min()).item()
    assert span.total_seconds() < 3600
    plain = make_cnt_workload(tmp_path / "c.csv", rows=2500, viral=False, seed=7)
    assert coordscope.read_events(plain).filter(pl.col("object_id") == "viral").height == 0
    assert run_cnt_coretweet(plain) == 2500


def test_workload_edges_match_the_join_reference(tmp_path: Path) -> None:
    path = make_cnt_workload(tmp_path / "w.csv", rows=6000, viral=True, seed=2)
    events = coordscope.read_events(path)
    got = edges(events, "co_retweet", 60, max_pairs=20_000)
    assert got == _join_reference(events, "co_retweet", 60)


def test_timestamps_are_utc_seconds() -> None:
    events = events_of([Row("1", "A", 1_700_000_000.25, repost_id="r")])
    assert events["ts"][0] == datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)


# --------------------------------------------------------------------------------------
# co_similar_tweet (issue 6): token-set Jaccard within the window


_SIMPLE_TOKEN = re.compile(r"[a-z]+|[!?]")


def toolkit_similar_edges(
    rows: Sequence[Row], window: float, min_w: int, threshold: float = 0.8
) -> set[Edge]:
    """The toolkit's ``compute_co_similar_tweet`` by brute force (``O(n²)``), for texts of
    lower-case ASCII words and ``!``/``?`` (where its Unicode word segmentation is a plain
    regex): every pair of non-repost messages within the window whose token sets have
    Jaccard ``>= threshold``; empty token sets never match (``--min_document_size_
    similarity 1``); a message never matches itself."""
    edge: dict[str, Row] = {}
    for row in rows:
        edge.setdefault(row.message_id, row)
    items = [
        (r.message_id, frozenset(_SIMPLE_TOKEN.findall(_MENTION.sub("", r.message.lower()))),
         r.timestamp, r.user_id)
        for r in edge.values() if not r.repost_id
    ]  # fmt: skip
    matched: dict[tuple[str, str], set[str]] = defaultdict(set)
    for m1, s1, t1, u1 in items:
        for m2, s2, t2, u2 in items:
            if m1 == m2 or not s1 or not s2 or not t1 - window <= t2 <= t1 + window:
                continue
            if len(s1 & s2) / len(s1 | s2) >= threshold:
                matched[(u1, u2)].add(m1)
    return {(a, b, len(ms)) for (a, b), ms in matched.items() if len(ms) >= min_w}


def test_co_similar_tweet_by_hand() -> None:
    rows = [
        Row("s1", "A", 0, message="the cat sat on the mat"),
        Row("s2", "B", 20, message="The cat sat on the mat slowly"),  # 5/6 with s1
        Row("s3", "C", 30, message="the bat sat on the mat"),  # 4/6 with s1, 4/7 with s2
        Row("s4", "A", 40, message="the cat sat on the mat!"),  # 5/6 with s1, 5/7 with s2
        Row("s5", "D", 25, repost_id="x", message="the cat sat on the mat"),  # repost
        Row("s6", "E", 21, message="@someone"),  # no token: never matches
        Row("s7", "F", 22, message="@other"),
    ]
    events = events_of(rows)
    got = edges(events, "co_similar_tweet", 60)
    # A's s1 and s4 match each other (a self-loop, weight 2); s1 and s2 of B match
    assert got == {("A", "A", 2), ("A", "B", 1), ("B", "A", 1)}
    assert got == toolkit_similar_edges(rows, 60, 1)
    assert edges(events, "co_similar_tweet", 20) == {("A", "B", 1), ("B", "A", 1)}
    assert edges(events, "co_similar_tweet", 19) == set()
    assert edges(events, "co_similar_tweet", 60, min_w=2) == {("A", "A", 2)}
    strict = cnt_edges(events, network="co_similar_tweet", window=60, similarity_threshold=0.9)
    assert strict.height == 0
    loose = cnt_edges(events, network="co_similar_tweet", window=60, similarity_threshold=4 / 6)
    assert ("A", "C", 1) in set(loose.rows())  # inclusive threshold
    few = cnt_edges(events, network="co_similar_tweet", window=60, min_tokens=6)
    assert set(few.rows()) == set()  # only s2 and s4 have 6 tokens: 5/7


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from("ABCD"),
            st.integers(0, 120),
            st.lists(st.sampled_from(["a", "b", "c", "d", "e", "!", "?", "@x"]), max_size=6),
            st.booleans(),
        ),
        max_size=25,
    ),
    window=st.sampled_from([0, 10, 30, 2.5]),
    threshold=st.sampled_from([0.5, 0.75, 0.8, 1.0]),
)
def test_co_similar_tweet_equals_brute_force(
    data: list[tuple[str, int, list[str], bool]], window: float, threshold: float
) -> None:
    rows = [
        Row(f"m{k}", user, float(t), repost_id="r" if repost else None, message=" ".join(words))
        for k, (user, t, words, repost) in enumerate(data)
    ]
    events = events_of(rows)
    out = cnt_edges(
        events, network="co_similar_tweet", window=window, similarity_threshold=threshold
    )
    check_sorted(out)
    assert set(out.rows()) == toolkit_similar_edges(rows, window, 1, threshold)


@requires_reference
@pytest.mark.reference
def test_co_similar_tweet_reference_parity() -> None:
    n_cases = 0
    for name in ("mini_all", "coretweet_test_input"):
        expected_all = json.loads((REFERENCE / "cnt" / f"{name}.expected_head.json").read_text())
        events = coordscope.read_events(REFERENCE / "cnt" / f"{name}.csv")
        for key, expected in expected_all.items():
            kind, window, min_w = key.split("|")
            if kind != "co_similar_tweet":
                continue
            out = cnt_edges(
                events, network=kind, window=float(window.split("=")[1]),
                min_edge_weight=int(min_w.split("=")[1]),
            )  # fmt: skip
            check_sorted(out)
            assert [list(r) for r in out.rows()] == expected, key
            n_cases += 1
    assert n_cases == 8
    # the one non-empty table: u1-u2 (hello world, 2 tokens) and u11-u12 (0.833)
    mini = coordscope.read_events(REFERENCE / "cnt" / "mini_all.csv")
    assert detect_cnt(mini, signals="co_similar", window=60).edges.rows() == [
        ("u1", "u2", 1), ("u11", "u12", 1), ("u12", "u11", 1), ("u2", "u1", 1),
    ]  # fmt: skip
