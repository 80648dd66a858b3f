"""The band-join kernel and native counting against brute force."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.engine.kernel import band_pairs, count_band_pairs, window_ends
from coordscope.engine.native import native_pairs
from coordscope.errors import ParameterError

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _sorted(keys: list[int], ts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((np.array(ts, dtype=np.int64), np.array(keys, dtype=np.int64)))
    return np.array(keys, dtype=np.int64)[order], np.array(ts, dtype=np.int64)[order]


def _brute_pairs(keys: np.ndarray, ts: np.ndarray, window: int) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i, j in itertools.combinations(range(len(ts)), 2)
        if keys[i] == keys[j] and abs(int(ts[j]) - int(ts[i])) <= window
    }


def _kernel_pairs(
    keys: np.ndarray, ts: np.ndarray, window: int, max_pairs: int
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for ii, jj in band_pairs(keys, ts, window, max_pairs=max_pairs):
        assert ii.shape == jj.shape
        out.extend(zip(ii.tolist(), jj.tolist(), strict=True))
    return out


def test_hand_worked_pairs_inclusive_window() -> None:
    keys, ts = _sorted([0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 10, 20, 5, 100, 0, 0, 60, 61])
    # key 0: 0-10, 0-20, 10-20 within 20; key 1: 95 apart; key 2: 0-0, 0-60 (x2), 60-61
    assert _kernel_pairs(keys, ts, 60, 2) == [
        (0, 1),
        (0, 2),
        (1, 2),
        (5, 6),
        (5, 7),
        (6, 7),
        (7, 8),
    ]
    assert _kernel_pairs(keys, ts, 10, 100) == [(0, 1), (1, 2), (5, 6), (7, 8)]
    assert _kernel_pairs(keys, ts, 0, 100) == [(5, 6)]  # equal times only
    assert count_band_pairs(keys, ts, 60) == 7  # the 7 pairs of the first list
    assert window_ends(keys, ts, 10).tolist() == [2, 3, 3, 4, 5, 7, 7, 9, 9]


def test_empty_and_single_inputs() -> None:
    empty = np.array([], dtype=np.int64)
    assert list(band_pairs(empty, empty, 60)) == []
    assert count_band_pairs(empty, empty, 60) == 0
    one = np.array([7], dtype=np.int64)
    assert list(band_pairs(one, one, 60)) == []


def test_huge_time_spans_and_hash_keys_do_not_cross_keys() -> None:
    # spans near 2**61; pairs must not cross keys
    big = 2**61
    keys, ts = _sorted([0, 0, 1, 1, 2, 2], [0, big, 0, 5, big - 3, big])
    assert _kernel_pairs(keys, ts, 10, 100) == [(2, 3), (4, 5)]
    # 64-bit hashes as keys (above 2**63: only equality matters, not the sign)
    hashed = np.array([2**64 - 1, 2**64 - 1, 2**63, 2**63, 2**63], dtype=np.uint64)
    times = np.array([0, 3, 1, 2, 50], dtype=np.int64)
    assert window_ends(hashed, times, 5).tolist() == [2, 2, 4, 4, 5]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 120)), max_size=40),
    st.integers(0, 130),
    st.integers(1, 50),
)
def test_kernel_equals_brute_force(
    items: list[tuple[int, int]], window: int, max_pairs: int
) -> None:
    keys, ts = _sorted([k for k, _ in items], [t for _, t in items])
    got = _kernel_pairs(keys, ts, window, max_pairs)
    assert len(got) == len(set(got))  # each pair exactly once
    assert set(got) == _brute_pairs(keys, ts, window)
    assert count_band_pairs(keys, ts, window) == len(got)


def _actions(rows: list[tuple[str, str, float]], signal: str = "co_share") -> pl.DataFrame:
    """rows: (key, actor, seconds after T0); event ids e0, e1, … in row order."""
    return pl.DataFrame(
        {
            "signal": [signal] * len(rows),
            "key": [r[0] for r in rows],
            "actor_id": [r[1] for r in rows],
            "ts": [T0 + timedelta(seconds=r[2]) for r in rows],
            "event_id": [f"e{i}" for i in range(len(rows))],
            "event": list(range(len(rows))),
        },
        schema={
            "signal": pl.String, "key": pl.String, "actor_id": pl.String,
            "ts": pl.Datetime("us", "UTC"), "event_id": pl.String, "event": pl.UInt32,
        },
    )  # fmt: skip


def _brute_native(
    rows: list[tuple[str, str, float]], window: float
) -> dict[tuple[str, str], dict[str, object]]:
    per_key: dict[tuple[str, str, str], list[float]] = {}
    times: dict[tuple[str, str], list[float]] = {}
    for (k1, a1, t1), (k2, a2, t2) in itertools.combinations(rows, 2):
        if k1 != k2 or a1 == a2 or abs(t1 - t2) > window:
            continue
        pair = (min(a1, a2), max(a1, a2))
        per_key.setdefault((*pair, k1), []).append(abs(t1 - t2))
        times.setdefault(pair, []).extend([t1, t2])
    out: dict[tuple[str, str], dict[str, object]] = {}
    for (a, b, _), dts in per_key.items():
        e = out.setdefault((a, b), {"n_keys": 0, "n_coactions": 0, "mins": []})
        e["n_keys"] = int(e["n_keys"]) + 1  # type: ignore[call-overload]
        e["n_coactions"] = int(e["n_coactions"]) + len(dts)  # type: ignore[call-overload]
        e["mins"].append(min(dts))  # type: ignore[union-attr]
    for pair, e in out.items():
        mins = e.pop("mins")
        e["min_dt"] = min(mins)  # type: ignore[type-var]
        e["median_dt"] = float(np.median(mins))  # type: ignore[arg-type]
        e["first_ts"] = T0 + timedelta(seconds=min(times[pair]))
        e["last_ts"] = T0 + timedelta(seconds=max(times[pair]))
    return out


def test_native_hand_worked() -> None:
    rows = [
        ("o1", "a", 0), ("o1", "b", 5), ("o1", "c", 70),  # a-b 5 s; c too late
        ("o2", "b", 100), ("o2", "a", 101), ("o2", "a", 130),  # a-b twice (1 s, 30 s)
        ("o3", "a", 200), ("o3", "a", 201),  # one account alone: nothing
        ("o4", "c", 300), ("o4", "b", 360),  # exactly at the window: counts
    ]  # fmt: skip
    res = native_pairs(_actions(rows), window=60, max_pairs=2)
    e = res.edges.sort("actor_a", "actor_b")
    assert e.select(
        "actor_a", "actor_b", "n_keys", "n_coactions", "min_dt", "median_dt"
    ).rows() == [
        ("a", "b", 2, 3, 1.0, 3.0),
        ("b", "c", 1, 1, 60.0, 60.0),
    ]
    assert e["first_ts"].to_list() == [T0, T0 + timedelta(seconds=300)]
    assert e["last_ts"].to_list() == [T0 + timedelta(seconds=130), T0 + timedelta(seconds=360)]
    assert e["signals"].to_list() == [["co_share"], ["co_share"]]
    ev = res.evidence.sort("actor_a", "actor_b", "key")
    assert ev.select(
        "actor_a", "actor_b", "key", "n_coactions", "dt", "event_a", "event_b"
    ).rows() == [
        ("a", "b", "o1", 1, 5.0, "e0", "e1"),
        ("a", "b", "o2", 2, 1.0, "e4", "e3"),
        ("b", "c", "o4", 1, 60.0, "e9", "e8"),
    ]


def test_native_several_signals_count_keys_per_signal() -> None:
    share = _actions([("x", "a", 0), ("x", "b", 1)], "co_share")
    link = _actions([("x", "a", 0), ("x", "b", 2)], "co_link")
    res = native_pairs(pl.concat([share, link]), window=10)
    assert res.edges.select("n_keys", "n_coactions", "signals").rows() == [
        (2, 2, ["co_link", "co_share"])
    ]


def test_one_key_crowded_window_is_chunked_not_held() -> None:
    # 3,000 actions of one key inside one window by 30 accounts: ~4.5M co-action pairs
    # produced in chunks of 50,000; the result has only the 435 account pairs
    n, accounts = 3_000, 30
    rows = [("hot", f"acc{i % accounts:02d}", i / 100) for i in range(n)]
    res = native_pairs(_actions(rows), window=60, max_pairs=50_000, evidence=False)
    assert res.edges.height == accounts * (accounts - 1) // 2
    assert set(res.edges["n_keys"].to_list()) == {1}
    # each account has 100 actions; every cross-account pair of actions co-acts
    assert set(res.edges["n_coactions"].to_list()) == {100 * 100}
    # consecutive actions (i / 100 s) are by different accounts: 0.01 s apart
    assert res.edges["min_dt"].min() == pytest.approx(0.01)


def test_native_empty_and_negative_window() -> None:
    res = native_pairs(_actions([]), window=60)
    assert res.edges.height == 0 and res.evidence.height == 0
    with pytest.raises(ParameterError, match="window must be a finite number of seconds between 0"):
        native_pairs(_actions([("k", "a", 0)]), window=-1)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["k1", "k2", "k3"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(0, 90),
        ),
        max_size=25,
    ),
    st.sampled_from([0, 1, 10, 30, 60]),
    st.integers(1, 6),
    st.integers(1, 3),
)
def test_native_equals_brute_force(
    rows: list[tuple[str, str, int]], window: int, max_pairs: int, partitions: int
) -> None:
    frame = _actions([(k, a, float(t)) for k, a, t in rows]).sample(
        fraction=1.0, shuffle=True, seed=1
    )
    res = native_pairs(frame, window=window, max_pairs=max_pairs, partitions=partitions)
    expected = _brute_native([(k, a, float(t)) for k, a, t in rows], window)
    got = {
        (r["actor_a"], r["actor_b"]): {
            "n_keys": r["n_keys"], "n_coactions": r["n_coactions"], "min_dt": r["min_dt"],
            "median_dt": r["median_dt"], "first_ts": r["first_ts"], "last_ts": r["last_ts"],
        }
        for r in res.edges.iter_rows(named=True)
    }  # fmt: skip
    assert got == expected
    # same pairs whatever the partitioning and chunking; identical tables for equal parameters
    again = native_pairs(frame, window=window, max_pairs=1000, partitions=1)
    assert again.edges.sort("actor_a", "actor_b").equals(res.edges.sort("actor_a", "actor_b"))
    twice = native_pairs(frame, window=window, max_pairs=max_pairs, partitions=partitions)
    assert twice.edges.equals(res.edges) and twice.evidence.equals(res.evidence)
