"""Native counting against a brute-force reference: every column, the evidence, the ties.

The reference enumerates every pair of actions (``O(n²)``, fine for a few dozen rows) and
aggregates in plain Python, following the documented rules of
:func:`coordscope.engine.native.native_pairs`:

- a co-action: same (signal, key), different accounts, ``|Δt| <= W`` (inclusive);
- per (pair, key): co-actions counted, the smallest Δt, and the closest co-action's two
  events — among equally close ones the first with the actions ordered by
  ``(ts, input row)``: by its earlier action, then by its later one;
- per pair: distinct keys, co-actions, smallest Δt, the median over keys of each key's
  smallest Δt, the first and last action time, the sorted signal names.
"""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.engine import coding
from coordscope.engine.native import native_pairs
from coordscope.errors import ParameterError
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA, SECONDS_PER_US
from tests.conftest import shuffle_joins

T0 = datetime(2024, 3, 1, tzinfo=UTC)

#: (signal, key, actor, µs after T0)
Row = tuple[str, str, str, int]


def _frame(rows: list[Row]) -> pl.DataFrame:
    """Actions in row order; event ids e0, e1, … follow the rows."""
    return pl.DataFrame(
        {
            "signal": [r[0] for r in rows],
            "key": [r[1] for r in rows],
            "actor_id": [r[2] for r in rows],
            "ts": [T0 + timedelta(microseconds=r[3]) for r in rows],
            "event_id": [f"e{i}" for i in range(len(rows))],
            "event": list(range(len(rows))),
        },
        schema={
            "signal": pl.String, "key": pl.String, "actor_id": pl.String,
            "ts": pl.Datetime("us", "UTC"), "event_id": pl.String, "event": pl.UInt32,
        },
    )  # fmt: skip


def _reference(rows: list[Row], window_s: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Edges and evidence by enumerating every pair of actions (sorted by pair, key)."""
    w = round(window_s * 1_000_000)
    per_key: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for i, j in itertools.combinations(range(len(rows)), 2):
        (s1, k1, a1, t1), (s2, k2, a2, t2) = rows[i], rows[j]
        if (s1, k1) != (s2, k2) or a1 == a2 or abs(t1 - t2) > w:
            continue
        # the earlier action in (ts, input row) order comes first
        early, late = (i, j) if (t1, i) <= (t2, j) else (j, i)
        rank = (abs(t1 - t2), rows[early][3], early, rows[late][3], late)
        a, b = sorted((a1, a2))
        row_a, row_b = (i, j) if a1 == a else (j, i)
        entry = per_key.setdefault((a, b, s1, k1), {"n": 0, "best": None, "times": []})
        entry["n"] += 1
        entry["times"] += [t1, t2]
        if entry["best"] is None or rank < entry["best"][0]:
            entry["best"] = (rank, row_a, row_b)
    evidence = []
    pairs: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for (a, b, s, k), entry in per_key.items():
        (dt, *_), row_a, row_b = entry["best"]
        evidence.append(
            (a, b, s, k, entry["n"], dt * SECONDS_PER_US, f"e{row_a}", f"e{row_b}",
             T0 + timedelta(microseconds=rows[row_a][3]),
             T0 + timedelta(microseconds=rows[row_b][3]))
        )  # fmt: skip
        pairs.setdefault((a, b), []).append((s, {**entry, "dt": dt}))
    edges = []
    for (a, b), keys in pairs.items():
        mins = [e["dt"] for _, e in keys]
        times = [t for _, e in keys for t in e["times"]]
        edges.append(
            (a, b, len(keys), sum(e["n"] for _, e in keys), min(mins) * SECONDS_PER_US,
             float(statistics.median(mins)) * SECONDS_PER_US,
             T0 + timedelta(microseconds=min(times)), T0 + timedelta(microseconds=max(times)),
             sorted({s for s, _ in keys}))
        )  # fmt: skip
    return (
        pl.DataFrame(edges, schema=EDGE_SCHEMA, orient="row").sort("actor_a", "actor_b"),
        pl.DataFrame(evidence, schema=EVIDENCE_SCHEMA, orient="row").sort(
            "actor_a", "actor_b", "signal", "key"
        ),
    )


def _check(rows: list[Row], window: float, **kwargs: Any) -> None:
    """native_pairs equals the reference, column for column, dtype for dtype."""
    got = native_pairs(_frame(rows), window=window, **kwargs)
    edges, evidence = _reference(rows, window)
    assert got.edges.schema == EDGE_SCHEMA
    assert got.evidence.schema == EVIDENCE_SCHEMA
    assert got.edges.sort("actor_a", "actor_b").equals(edges)
    assert got.evidence.sort("actor_a", "actor_b", "signal", "key").equals(evidence)


# ------------------------------------------------------------------ hand-worked cases


def test_hand_worked_edges_and_evidence() -> None:
    s = 1_000_000
    rows: list[Row] = [
        ("co_share", "o1", "a", 0), ("co_share", "o1", "b", 5 * s),  # a-b 5 s
        ("co_share", "o1", "c", 70 * s),  # c: 65 s after b, too late
        ("co_share", "o2", "b", 100 * s), ("co_share", "o2", "a", 101 * s),
        ("co_share", "o2", "a", 130 * s),  # a-b twice on o2: 1 s and 30 s
        ("co_link", "o2", "a", 0), ("co_link", "o2", "b", 60 * s),  # exactly W: counts
    ]  # fmt: skip
    res = native_pairs(_frame(rows), window=60, max_pairs=2)
    edges = res.edges.sort("actor_a", "actor_b")
    assert edges.select("actor_a", "actor_b", "n_keys", "n_coactions").rows() == [("a", "b", 3, 4)]
    # per-key smallest Δt 5, 1 and 60 s: median 5 s
    assert edges.select("min_dt", "median_dt").rows() == [(1.0, 5.0)]
    assert edges["signals"].to_list() == [["co_link", "co_share"]]
    assert edges["first_ts"].to_list() == [T0]
    assert edges["last_ts"].to_list() == [T0 + timedelta(seconds=130)]
    ev = res.evidence.sort("signal", "key")
    assert ev.select("signal", "key", "n_coactions", "dt", "event_a", "event_b").rows() == [
        ("co_link", "o2", 1, 60.0, "e6", "e7"),
        ("co_share", "o1", 1, 5.0, "e0", "e1"),
        ("co_share", "o2", 2, 1.0, "e4", "e3"),
    ]
    _check(rows, 60, max_pairs=2)


def test_ties_take_the_first_co_action_in_time_then_row_order() -> None:
    # a acts twice at the same microsecond; b once, 1 s later: two co-actions at Δt 1 s.
    # In (ts, row) order a's row 2 comes before a's row 3, so row 2 is the evidence.
    rows: list[Row] = [
        ("co_share", "k", "b", 1_000_000),
        ("co_share", "k", "c", 50_000_000),
        ("co_share", "k", "a", 0),
        ("co_share", "k", "a", 0),
    ]
    ev = native_pairs(_frame(rows), window=10).evidence
    assert ev.select("actor_a", "actor_b", "n_coactions", "dt", "event_a", "event_b").rows() == [
        ("a", "b", 2, 1.0, "e2", "e0")
    ]
    # the same rows in another order: the earlier input row still wins
    reordered = [rows[3], rows[2], rows[0], rows[1]]
    ev = native_pairs(_frame(reordered), window=10).evidence
    assert ev.select("event_a", "event_b").rows() == [("e0", "e2")]  # now a's row 0
    _check(rows, 10)
    _check(reordered, 10)


def test_equal_dt_at_different_times_takes_the_earlier() -> None:
    # a-b at Δt 5 s twice (b 0 → a 5, a 5 → b 10): the one whose earlier action is first
    rows: list[Row] = [
        ("co_share", "k", "a", 5_000_000),
        ("co_share", "k", "b", 10_000_000),
        ("co_share", "k", "b", 0),
    ]
    ev = native_pairs(_frame(rows), window=60).evidence
    assert ev.select("n_coactions", "event_a", "event_b").rows() == [(2, "e0", "e2")]


def test_a_pair_co_acting_twice_on_a_key_far_apart_is_one_key() -> None:
    # a and b each act twice on k, 1,000 s apart (far beyond 2 W): the two co-actions
    # are one (pair, key) — merged although neither account repeats within the window
    s = 1_000_000
    rows: list[Row] = [
        ("co_share", "k", "a", 0), ("co_share", "k", "b", 3 * s),
        ("co_share", "k", "b", 1000 * s), ("co_share", "k", "a", 1002 * s),
    ]  # fmt: skip
    res = native_pairs(_frame(rows), window=60)
    assert res.edges.select("n_keys", "n_coactions", "min_dt", "median_dt").rows() == [
        (1, 2, 2.0, 2.0)
    ]
    assert res.evidence.select("n_coactions", "dt", "event_a", "event_b").rows() == [
        (2, 2.0, "e3", "e2")
    ]
    _check(rows, 60, max_pairs=1)


def test_empty_one_actor_one_key_and_all_at_once() -> None:
    res = native_pairs(_frame([]), window=60)
    assert res.edges.schema == EDGE_SCHEMA and res.edges.height == 0
    assert res.evidence.schema == EVIDENCE_SCHEMA and res.evidence.height == 0
    one_actor: list[Row] = [("co_share", f"k{i % 2}", "a", i) for i in range(10)]
    assert native_pairs(_frame(one_actor), window=60).edges.height == 0
    one_key: list[Row] = [("co_share", "k", f"a{i % 4}", 7 * i) for i in range(12)]
    _check(one_key, 0.000_02)
    same_time: list[Row] = [("co_share", "k", f"a{i % 3}", 42) for i in range(9)]
    _check(same_time, 0)
    assert native_pairs(_frame(same_time), window=0).edges["n_coactions"].to_list() == [9] * 3


def test_window_is_inclusive_to_the_microsecond() -> None:
    rows: list[Row] = [("co_share", "k", "a", 0), ("co_share", "k", "b", 2_500_001)]
    assert native_pairs(_frame(rows), window=2.500_001).edges.height == 1
    assert native_pairs(_frame(rows), window=2.5).edges.height == 0


def test_parameters_are_checked() -> None:
    rows = _frame([("co_share", "k", "a", 0)])
    with pytest.raises(ParameterError, match="window must be a finite number of seconds between 0"):
        native_pairs(rows, window=-1)
    with pytest.raises(ParameterError, match="partitions must be >= 1"):
        native_pairs(rows, window=1, partitions=0)
    with pytest.raises(ParameterError, match="max_pairs must be >= 1"):
        native_pairs(rows, window=1, max_pairs=0)
    nulls = rows.with_columns(pl.lit(None, dtype=pl.String).alias("actor_id"))
    with pytest.raises(ParameterError, match="null actor_id or ts"):
        native_pairs(nulls, window=1)


def test_input_is_not_changed_and_integer_keys_keep_their_type() -> None:
    rows: list[Row] = [("co_share", "7", "a", 0), ("co_share", "7", "b", 1)]
    frame = _frame(rows).with_columns(pl.col("key").cast(pl.Int64))
    before = frame.clone()
    res = native_pairs(frame, window=1)
    assert frame.equals(before)
    assert res.evidence["key"].dtype == pl.Int64
    assert res.evidence["key"].to_list() == [7]


def test_only_counts_the_given_pairs_in_either_order() -> None:
    rows: list[Row] = [("co_share", "k", a, i) for i, a in enumerate("abcd")]
    only = pl.DataFrame({"actor_a": ["b", "d", "x"], "actor_b": ["a", "c", "a"]})
    res = native_pairs(_frame(rows), window=1, only=only)
    assert sorted(res.edges.select("actor_a", "actor_b").rows()) == [("a", "b"), ("c", "d")]
    assert res.evidence.height == 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_only_pairs_whatever_order_joins_return_rows(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the two accounts of each pair were once looked up by two joins and put side by
    # side: rows in another order paired the wrong accounts
    names = "abcdefghijklmnop"
    rows: list[Row] = [("co_share", "k", a, i) for i, a in enumerate(names)]  # all co-act
    pairs = [(names[i], names[i + 1]) for i in range(0, len(names), 2)]
    only = pl.DataFrame(
        {"actor_a": [b for _, b in pairs] + ["x"], "actor_b": [a for a, _ in pairs] + ["a"]}
    )
    shuffle_joins(monkeypatch, seed)
    res = native_pairs(_frame(rows), window=len(names), only=only)
    assert sorted(res.edges.select("actor_a", "actor_b").rows()) == pairs


def test_crowded_pair_on_one_key_and_pair_on_many_keys() -> None:
    # two accounts acting 40 times each in one minute on one key: 1,600 co-actions of
    # one (pair, key), more than a run the kernel sorts by insertion; and a pair that
    # co-acts on 45 keys, chunked into 7-pair chunks
    s = 1_000_000
    crowded: list[Row] = [("co_share", "hot", "ab"[i % 2], i * s // 2) for i in range(80)]
    many: list[Row] = [
        ("co_share", f"k{k}", a, 1000 * s * k + d)
        for k in range(45)
        for a, d in (("c", 0), ("d", k))
    ]
    _check(crowded + many, 60, max_pairs=7)
    _check(crowded + many, 60, partitions=1)  # one chunk: the long run merged at once
    res = native_pairs(_frame(crowded + many), window=60, max_pairs=7, evidence=False)
    assert res.edges.sort("actor_a").select("n_keys", "n_coactions").rows() == [
        (1, 1600), (45, 45)
    ]  # fmt: skip


def test_results_do_not_depend_on_chunks_or_threads() -> None:
    rng = np.random.default_rng(3)
    rows: list[Row] = [
        ("co_share", f"k{k}", f"a{a}", int(t) * 1_000_000)
        for k, a, t in zip(
            rng.integers(4, size=300),
            rng.integers(12, size=300),
            rng.integers(90, size=300),
            strict=True,
        )
    ]
    first = native_pairs(_frame(rows), window=30, max_pairs=10**6, partitions=1)
    edges = first.edges.sort("actor_a", "actor_b")
    evidence = first.evidence.sort("actor_a", "actor_b", "signal", "key")
    for max_pairs, partitions in [(1, 1), (3, 2), (50, 3), (400, 2)]:
        res = native_pairs(_frame(rows), window=30, max_pairs=max_pairs, partitions=partitions)
        assert res.edges.sort("actor_a", "actor_b").equals(edges)
        assert res.evidence.sort("actor_a", "actor_b", "signal", "key").equals(evidence)
        again = native_pairs(_frame(rows), window=30, max_pairs=max_pairs, partitions=partitions)
        assert again.edges.equals(res.edges) and again.evidence.equals(res.evidence)


# --------------------------------------------------------------------- property tests

_rows = st.lists(
    st.tuples(
        st.sampled_from(["co_share", "co_link"]),
        st.sampled_from(["k1", "k2", "k3"]),
        st.sampled_from(["a", "b", "c", "d", "e"]),
        # whole 10-second steps: many equal timestamps and pairs exactly at the window
        st.integers(0, 12).map(lambda x: x * 10_000_000),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(
    _rows,
    st.sampled_from([0, 10, 20, 30, 45.5]),
    st.sampled_from([1, 2, 5, 1000]),
    st.integers(1, 3),
)
def test_native_equals_brute_force(
    rows: list[Row], window: float, max_pairs: int, partitions: int
) -> None:
    _check(rows, window, max_pairs=max_pairs, partitions=partitions)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.just("co_share"),
            st.sampled_from(["k1", "k2"]),
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 3_000_000),  # microseconds: a few ties, windows within 3 s
        ),
        max_size=40,
    ),
    st.floats(0, 3, allow_nan=False),
    st.integers(1, 40),
)
def test_native_equals_brute_force_any_window(
    rows: list[Row], window: float, max_pairs: int
) -> None:
    _check(rows, window, max_pairs=max_pairs, partitions=2)


@settings(max_examples=100, deadline=None)
@given(_rows, st.sampled_from([10, 30]))
def test_edges_only_match_the_full_run(rows: list[Row], window: float) -> None:
    full = native_pairs(_frame(rows), window=window, max_pairs=3)
    edges = native_pairs(_frame(rows), window=window, max_pairs=3, evidence=False)
    assert edges.evidence.height == 0 and edges.evidence.schema == EVIDENCE_SCHEMA
    assert edges.edges.equals(full.edges)


# ------------------------------------------------------------------- compiled helpers


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=200))
def test_merge_sort_is_stable(values: list[int]) -> None:
    keys = np.array(values, dtype=np.int64)
    payload = np.arange(keys.shape[0], dtype=np.int64)
    coding.msort(keys, payload)
    expected = np.argsort(np.array(values, dtype=np.int64), kind="stable")
    assert payload.tolist() == expected.tolist()
    assert keys.tolist() == sorted(values)


def test_key_order_separates_keys_whose_hash_bits_collide() -> None:
    # k1 values whose mixed high bits agree (they differ by the inverse of the multiplier):
    # one group of the sort holds two keys, which must still come out separate, by time
    inverse = pow(coding._MIX, -1, 2**64)
    k_a, k_b = 2, (2 + inverse) % 2**64
    k1 = np.array([k_a, k_b, k_a, k_b, k_a], dtype=np.uint64)
    t = np.array([50, 40, 10, 30, 10], dtype=np.int64)
    row_bits = 3
    packed, ktk = coding.pack_rows(k1, k1.copy(), t, row_bits)
    assert len({int(p) >> row_bits for p in packed[[0, 1]]}) == 1  # the bits collide
    packed.sort()
    order = np.empty(5, dtype=np.int64)
    times = np.empty(5, dtype=np.int64)
    starts, clash = coding.key_order(packed, ktk, row_bits, order, times)
    assert not clash
    assert len(starts) == 3
    groups = [order[starts[i] : starts[i + 1]].tolist() for i in range(2)]
    assert sorted(groups) == [[2, 4, 0], [3, 1]]  # by time, equal times by row
    assert sorted(times.tolist()) == sorted(t.tolist())
    # a second hash that disagrees within the shared group is still a collision
    k2 = k1.copy()
    k2[4] += np.uint64(1)
    packed, ktk = coding.pack_rows(k1, k2, t, row_bits)
    packed.sort()
    assert coding.key_order(packed, ktk, row_bits, order, times)[1]


def test_key_order_reports_a_first_hash_collision() -> None:
    k1 = np.array([9, 9], dtype=np.uint64)
    k2 = np.array([1, 2], dtype=np.uint64)  # the second hash tells them apart
    packed, ktk = coding.pack_rows(k1, k2, np.array([0, 1], dtype=np.int64), 1)
    packed.sort()
    order = np.empty(2, dtype=np.int64)
    assert coding.key_order(packed, ktk, 1, order, order.copy())[1]


def test_unmixed_keys_come_in_unsigned_order_by_time_and_row() -> None:
    # keys with the top bit set (negative as int64) sort after the others; ties in time
    # keep the row order
    top = 2**63
    k1 = np.array([top + 5, 3, top + 5, 3, 7], dtype=np.uint64)
    t = np.array([9, 4, 1, 4, 0], dtype=np.int64)
    row_bits = 3
    packed, ktk = coding.pack_rows(k1, k1.copy(), t, row_bits, False)
    packed.sort()
    order = np.empty(5, dtype=np.int64)
    times = np.empty(5, dtype=np.int64)
    starts, clash = coding.key_order(packed, ktk, row_bits, order, times)
    assert not clash
    assert starts.tolist() == [0, 2, 3, 5]
    assert order.tolist() == [1, 3, 4, 2, 0]
    assert times.tolist() == [4, 4, 0, 1, 9]


def test_dense_codes_and_lookup_by_hand() -> None:
    h1 = np.array([5, 7, 5, 9, 7], dtype=np.uint64)
    codes, first, clash = coding.dense_codes(h1, h1 * np.uint64(3))
    assert codes.tolist() == [0, 1, 0, 2, 1]
    assert first.tolist() == [0, 1, 3]
    assert not clash
    h2 = h1 * np.uint64(3)
    h2[4] += np.uint64(1)  # the same first hash with another second hash: a collision
    assert coding.dense_codes(h1, h2)[2]
    keys = np.array([9, 5, 7], dtype=np.uint64)
    values = np.array([20, 10, 30], dtype=np.int64)
    queries = np.array([7, 9, 4, 5, 5], dtype=np.uint64)
    assert coding.lookup_codes(keys, values, queries).tolist() == [30, 20, -1, 10, 10]


def test_id_order_by_hand() -> None:
    # codes 0, 1, 2 for ids c, a, b: a is first in id order, then b, then c
    by_id, rank = coding.id_order(pl.Series(["c", "a", "b"]))
    assert by_id.tolist() == [1, 2, 0]
    assert rank.tolist() == [2, 0, 1]
    assert rank[np.array([0, 1, 0, 2])].tolist() == [2, 0, 2, 1]  # rows' codes renumbered


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=300), st.integers(0, 2**64 - 1))
def test_dense_codes_and_lookup_match_a_dictionary(values: list[int], extra: int) -> None:
    h = np.array(values, dtype=np.uint64)
    codes, first, clash = coding.dense_codes(h, h)
    seen: dict[int, int] = {}
    expected = [seen.setdefault(v, len(seen)) for v in values]
    assert codes.tolist() == expected and not clash
    assert [values[i] for i in first.tolist()] == list(seen)
    distinct = np.array(list(seen), dtype=np.uint64)
    got = coding.lookup_codes(distinct, np.arange(len(seen), dtype=np.int64), h)
    assert got.tolist() == expected
    missing = coding.lookup_codes(distinct, np.arange(len(seen)), np.array([extra], np.uint64))
    assert missing.tolist() == [seen.get(extra, -1)]
