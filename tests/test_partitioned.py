"""The partitioned pair engine against a brute-force reference, at any partitioning.

The engine cuts the actions into key partitions and the pairs into pair partitions, spills
partial aggregates and reduces them; whatever the cut (chunk sizes, partition counts,
threads), the pair table must be the one a brute-force join of every action with every
other gives.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import threading
import time

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.budget import (
    MIN_MEMORY,
    Budget,
    held_bytes,
    ordered_map,
    parse_memory,
    thread_pool,
)
from coordscope.engine.kernel import count_band_pairs
from coordscope.engine.partitioned import (
    KEYED_SCHEMA,
    PAIR_SCHEMA,
    LocalPairEngine,
    PairPartition,
    partition_partials,
    reduce_pairs,
)
from coordscope.errors import ParameterError
from coordscope.parts import PartedTable, WorkDir


def brute_pairs(k: np.ndarray, a: np.ndarray, t: np.ndarray, s: np.ndarray, w: int) -> pl.DataFrame:
    """Every pair of actions of one key, different accounts, |Δt| <= w: aggregated by pair."""
    df = pl.DataFrame({"k": k, "a": a, "t": t, "s": s}).with_row_index("i")
    j = df.join(df, on="k", suffix="2").filter(
        (pl.col("i") < pl.col("i2"))
        & ((pl.col("t2") - pl.col("t")).abs() <= w)
        & (pl.col("a") != pl.col("a2"))
    )
    j = j.with_columns(
        lo=pl.min_horizontal("a", "a2"),
        hi=pl.max_horizontal("a", "a2"),
        dt=(pl.col("t2") - pl.col("t")).abs(),
        t0=pl.min_horizontal("t", "t2"),
        t1=pl.max_horizontal("t", "t2"),
    )
    per_key = j.group_by("lo", "hi", "k").agg(
        pl.col("s").first(),
        pl.len().cast(pl.Int64).alias("n"),
        pl.col("dt").min(),
        pl.col("t0").min(),
        pl.col("t1").max(),
    )
    return (
        per_key.group_by("lo", "hi")
        .agg(
            pl.len().cast(pl.Int64).alias("n_keys"),
            pl.col("n").sum().alias("n_co"),
            pl.col("dt").min().alias("min_dt"),
            pl.col("dt").median().cast(pl.Float64).alias("median_dt"),
            pl.col("t0").min().alias("first_ts"),
            pl.col("t1").max().alias("last_ts"),
            pl.lit(2, dtype=pl.Int64).pow(pl.col("s")).bitwise_or().alias("sig"),
        )
        .sort("lo", "hi")
        .select(list(PAIR_SCHEMA))
        .cast(PAIR_SCHEMA)  # type: ignore[arg-type]
    )


def brute_keyed(k: np.ndarray, a: np.ndarray, t: np.ndarray, s: np.ndarray, w: int) -> pl.DataFrame:
    """One row per (pair, key) of actions sorted by (k, t): the closest co-action's positions.

    Ties between co-actions with the same Δt go to the earliest first action in the sorted
    order, then the earliest second one; ``ra`` is the position of the ``lo`` account's
    action, ``rb`` of the ``hi`` account's.
    """
    df = pl.DataFrame({"k": k, "a": a, "t": t, "s": s}).with_row_index("i").cast({"i": pl.Int64})
    j = df.join(df, on="k", suffix="2").filter(
        (pl.col("i") < pl.col("i2"))
        & ((pl.col("t2") - pl.col("t")).abs() <= w)
        & (pl.col("a") != pl.col("a2"))
    )
    first = pl.col("a") < pl.col("a2")
    j = j.with_columns(
        lo=pl.min_horizontal("a", "a2"),
        hi=pl.max_horizontal("a", "a2"),
        dt=pl.col("t2") - pl.col("t"),
        ra=pl.when(first).then("i").otherwise("i2"),
        rb=pl.when(first).then("i2").otherwise("i"),
    )
    return (
        j.sort("lo", "hi", "k", "dt", "i", "i2")
        .group_by("lo", "hi", "k", maintain_order=True)
        .agg(
            pl.col("s").first(),
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("dt").first(),
            pl.col("t").min().alias("t0"),
            pl.col("t2").max().alias("t1"),
            pl.col("ra").first(),
            pl.col("rb").first(),
        )
        .select(list(KEYED_SCHEMA))
        .cast(KEYED_SCHEMA)  # type: ignore[arg-type]
    )


def run_engine(
    k: np.ndarray,
    a: np.ndarray,
    t: np.ndarray,
    s: np.ndarray,
    w: int,
    *,
    n_accounts: int,
    task_bytes: int,
    workers: int,
    keyed: bool = False,
    keep: bool | None = None,
) -> pl.DataFrame:
    """Run the local engine with a forced task size; return every pair partition in order.

    With ``keyed``, return the (pair, key) rows instead, sorted by ``(lo, hi, k)``; the
    actions are sorted by ``(k, t)`` first (stable), and ``ra``, ``rb`` are positions in
    that order. ``keep`` says whether partials wait in memory or in files.
    """
    order = np.lexsort((t, k))
    k, a, t, s = k[order], a[order], t[order], s[order]
    work = WorkDir()
    try:
        budget = Budget(memory=MIN_MEMORY, workers=workers, task=task_bytes)
        engine = LocalPairEngine(
            n_accounts=n_accounts,
            n_pairs=count_band_pairs(k, t, w),
            budget=budget,
            work=work,
            keep=keep,
        )
        engine.add(k, a, t, s, window=w)
        done = list(engine.reduce())
        assert [part.q for part in done] == list(range(engine.n_buckets))
        if keyed:
            rows = pl.concat([part.keyed for part in done])
            return rows.sort("lo", "hi", "k").cast(KEYED_SCHEMA)  # type: ignore[arg-type]
        parts = [part.pairs for part in done]
        return pl.concat(parts) if parts else pl.DataFrame(schema=PAIR_SCHEMA)
    finally:
        work.close()


actions_strategy = st.integers(0, 120).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 6), min_size=n, max_size=n),  # keys: few, so they crowd
        st.lists(st.integers(0, 9), min_size=n, max_size=n),  # accounts
        st.lists(st.integers(0, 40), min_size=n, max_size=n),  # times: many ties
    )
)


@settings(max_examples=60, deadline=None)
@given(
    data=actions_strategy,
    window=st.integers(0, 12),
    task_bytes=st.sampled_from([64, 1_000, 20_000, 10**9]),
    workers=st.sampled_from([1, 2, 3]),
    keep=st.sampled_from([None, False, True]),
)
def test_engine_equals_brute_force_at_any_partitioning(
    data: tuple[list[int], list[int], list[int]],
    window: int,
    task_bytes: int,
    workers: int,
    keep: bool | None,
) -> None:
    k, a, t = (np.array(x, dtype=np.int64) for x in data)
    s = k % 3
    expected = brute_pairs(k, a, t, s, window)
    got = run_engine(
        k, a, t, s, window, n_accounts=10, task_bytes=task_bytes, workers=workers, keep=keep
    )
    assert got.equals(expected)


@settings(max_examples=60, deadline=None)
@given(
    data=actions_strategy,
    window=st.integers(0, 12),
    task_bytes=st.sampled_from([64, 1_000, 10**9]),
    workers=st.sampled_from([1, 2]),
    keep=st.sampled_from([False, True]),
)
def test_closest_coaction_is_the_first_in_sweep_order_at_any_partitioning(
    data: tuple[list[int], list[int], list[int]],
    window: int,
    task_bytes: int,
    workers: int,
    keep: bool,
) -> None:
    k, a, t = (np.array(x, dtype=np.int64) for x in data)
    s = k % 3
    order = np.lexsort((t, k))
    expected = brute_keyed(k[order], a[order], t[order], s[order], window)
    got = run_engine(
        k, a, t, s, window, n_accounts=10, task_bytes=task_bytes, workers=workers, keyed=True,
        keep=keep,
    )  # fmt: skip
    assert got.equals(expected)


def test_closest_coaction_hand_checked() -> None:
    # one key; account 0 at t = 0 and t = 4, account 1 twice at t = 2 (simultaneous):
    # Δt = 2 four ways; the first in sweep order is (t=0 of account 0, first t=2 of 1)
    k = np.zeros(4, dtype=np.int64)
    a = np.array([0, 1, 1, 0])
    t = np.array([0, 2, 2, 4])
    got = run_engine(k, a, t, k, 10, n_accounts=2, task_bytes=64, workers=1, keyed=True)
    assert got.select("lo", "hi", "n", "dt", "ra", "rb").rows() == [(0, 1, 4, 2, 0, 1)]
    # account 1 listed as the lower code: ra is still the lo account's action
    got = run_engine(k, 1 - a, t, k, 10, n_accounts=2, task_bytes=64, workers=1, keyed=True)
    assert got.select("lo", "hi", "n", "dt", "ra", "rb").rows() == [(0, 1, 4, 2, 1, 0)]


def test_hand_checked_pairs() -> None:
    # key 0: accounts 0, 1, 2 at t = 0, 5, 10 (window 5: 0-1 and 1-2, not 0-2: 10 > 5)
    # key 1: accounts 0 and 1 at t = 3 and 8 (Δt = 5, exactly the window: inclusive)
    # key 2: account 0 twice (one account alone never co-acts)
    k = np.array([0, 0, 0, 1, 1, 2, 2])
    a = np.array([0, 1, 2, 0, 1, 0, 0])
    t = np.array([0, 5, 10, 3, 8, 1, 2])
    s = np.array([0, 0, 0, 1, 1, 0, 0])
    got = run_engine(k, a, t, s, 5, n_accounts=3, task_bytes=64, workers=2)
    assert got.select(
        "lo", "hi", "n_keys", "n_co", "min_dt", "first_ts", "last_ts", "sig"
    ).rows() == [
        (0, 1, 2, 2, 5, 0, 8, 0b11),  # keys 0 and 1, signals 0 and 1
        (1, 2, 1, 1, 5, 5, 10, 0b01),
    ]
    assert got["median_dt"].to_list() == [5.0, 5.0]


def test_empty_one_actor_one_key() -> None:
    empty = np.array([], dtype=np.int64)
    assert (
        run_engine(empty, empty, empty, empty, 10, n_accounts=1, task_bytes=64, workers=2).height
        == 0
    )
    one = np.zeros(5, dtype=np.int64)
    # one account: no pairs; one key and two accounts: one pair with 2·3 co-actions
    assert (
        run_engine(one, one, np.arange(5), one, 10, n_accounts=1, task_bytes=64, workers=1).height
        == 0
    )
    a = np.array([0, 1, 0, 1, 1])
    got = run_engine(one, a, np.arange(5), one, 10, n_accounts=2, task_bytes=64, workers=1)
    assert got.select("lo", "hi", "n_keys", "n_co", "min_dt").rows() == [(0, 1, 1, 6, 1)]


def test_crowded_key_is_cut_into_chunks_and_merged() -> None:
    # one key, 400 actions of 20 accounts within the window: 79,800 pairs, in chunks of
    # 64 pairs; the partial rows of the crowded key spill and are merged by the reduce
    rng = np.random.default_rng(3)
    n = 400
    k = np.zeros(n, dtype=np.int64)
    a = rng.integers(0, 20, n)
    t = np.sort(rng.integers(0, 30, n))
    s = np.zeros(n, dtype=np.int64)
    partials = list(partition_partials(k, a, t, s, window=60, max_pairs=64))
    assert len(partials) > 1
    assert any(p["part"].any() for p in partials)
    reduced = reduce_pairs(pl.concat(partials), n_accounts=20)
    assert reduced.equals(brute_pairs(k, a, t, s, 60))
    assert int(reduced["n_co"].sum()) == int(
        sum(1 for i in range(n) for j in range(i + 1, n) if a[i] != a[j])
    )


def test_budget_parsing_and_limits() -> None:
    assert parse_memory("4GB") == 4 * 2**30
    assert parse_memory("512mb") == 512 * 2**20
    assert parse_memory(2**30) == 2**30
    for bad in ("lots", "4XB", "-1GB", "1MB", ""):
        with pytest.raises(ParameterError, match="memory"):
            parse_memory(bad)
    with pytest.raises(ParameterError, match="workers"):
        Budget.of("1GB", 0)
    assert Budget.of(None, None).workers >= 1
    assert Budget.of("1GB", 3).task_bytes() == 2**30 // 9
    # what is left once the run holds its inputs; never below a quarter or the minimum
    left = Budget.of("1GB", 2).after(256 * 2**20)
    assert (left.memory, left.workers) == (768 * 2**20, 2)
    assert Budget.of("1GB", 2).after(900 * 2**20).memory == 256 * 2**20
    assert Budget.of("1GB", 2).after(2**40).memory == 256 * 2**20
    assert Budget.of("128MB", 2).after(2**40).memory == MIN_MEMORY
    # a quarter of the whole run's budget, not of what an earlier stage left
    assert Budget.of("1GB", 2).after(2**40).after(2**40).memory == 256 * 2**20
    assert Budget.of("1GB", 2).after(512 * 2**20).after(2**40).memory == 256 * 2**20
    assert Budget.of("1GB", 2).after(-5).memory == 2**30
    # what a held table costs: twice polars' estimate of its size (10 int64 = 80 bytes)
    assert held_bytes(pl.DataFrame({"x": list(range(10))})) == 2 * 80
    assert held_bytes() == 0


def test_parted_table_reads_pieces_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = pl.DataFrame({"x": list(range(10)), "y": [str(i) for i in range(10)]})
    work = WorkDir(tmp_path)
    files = []
    for lo, hi in ((3, 7), (7, 10)):
        path = work.file("piece")
        frame[lo:hi].write_parquet(path)
        files.append(path)
    table = PartedTable([frame[:3], *files], frame.schema, owner=work)
    assert table.height == 10
    assert table.collect().equals(frame)
    assert table.head(5).equals(frame.head(5))
    assert table.filter(pl.col("x") >= 8)["x"].to_list() == [8, 9]
    doubled = table.map(lambda lf: lf.with_columns(pl.col("x") * 2))
    assert doubled.collect()["x"].to_list() == [2 * i for i in range(10)]
    table.sink_parquet(tmp_path / "all.parquet")
    frame.write_parquet(tmp_path / "whole.parquet", row_group_size=262_144, statistics=True)
    assert (tmp_path / "all.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    work.close()
    assert work.closed and not work.path.exists()


_FREED = """
import sys
import platform
import subprocess
import sys

import numpy as np
from coordscope.budget import return_freed_memory
if sys.argv[1] == "1":
    assert return_freed_memory()
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
a = np.ones(30 << 20, np.uint8)  # freeing it raises glibc's threshold to 30 MiB
del a
big, pins = [], []
for _ in range(40):  # 160 MiB in 4 MiB arrays, each followed by a small live object
    big.append(np.ones(4 << 20, np.uint8))
    pins.append(b"x" * 128_000)
del big
print(rss_mb())
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_freed_arrays_leave_the_process_after_return_freed_memory() -> None:
    """Without it, 160 MiB of freed 4 MiB arrays stay resident behind small live objects."""
    kept, given_back = (
        float(subprocess.run([sys.executable, "-c", _FREED, flag], check=True,
                             capture_output=True, text=True).stdout)
        for flag in ("0", "1")
    )  # fmt: skip
    assert kept - given_back > 120


def test_reduce_each_runs_on_threads_and_yields_in_partition_order() -> None:
    # 300 actions of 40 accounts on 6 keys, a tiny task size: many pair partitions, each
    # tested on one of three threads (and slowed unevenly), yielded in partition order
    rng = np.random.default_rng(5)
    n = 300
    k = np.sort(rng.integers(0, 6, n))
    a = rng.integers(0, 40, n)
    t = np.zeros(n, dtype=np.int64)
    for key in range(6):
        at = k == key
        t[at] = np.sort(rng.integers(0, 100, int(at.sum())))
    s = k % 2
    work = WorkDir()
    try:
        budget = Budget(memory=MIN_MEMORY, workers=3, task=2_000)
        engine = LocalPairEngine(
            n_accounts=40, n_pairs=count_band_pairs(k, t, 20), budget=budget, work=work
        )
        engine.add(k, a, t, s, window=20)
        threads: set[str] = set()

        def then(part: PairPartition) -> tuple[int, pl.DataFrame]:
            threads.add(threading.current_thread().name)
            time.sleep(0.01 * ((part.q * 7) % 3))
            return part.q, part.pairs

        done = list(engine.reduce_each(then))
    finally:
        work.close()
    assert engine.n_buckets > 3
    assert [q for q, _ in done] == list(range(engine.n_buckets))
    assert threading.current_thread().name not in threads
    assert pl.concat([pairs for _, pairs in done]).equals(brute_pairs(k, a, t, s, 20))


def test_an_interrupted_thread_pool_cancels_its_queued_tasks() -> None:
    # Ctrl-C in the main thread while thousands of partition tasks are queued: the tasks
    # not started are cancelled, the running one is waited for, the interrupt goes on
    ran: list[int] = []

    def task(i: int) -> None:
        time.sleep(0.01)
        ran.append(i)

    with pytest.raises(KeyboardInterrupt), thread_pool(1) as pool:
        futures = [pool.submit(task, i) for i in range(1_000)]
        futures[2].result()
        raise KeyboardInterrupt
    assert 3 <= len(ran) <= 5  # not the 1,000 a plain executor would have run
    assert sum(f.cancelled() for f in futures) >= 995
    with thread_pool(2) as pool:  # without an exception every task runs
        assert list(pool.map(lambda i: i * i, range(5))) == [0, 1, 4, 9, 16]


def test_ordered_map_yields_in_order_and_runs_at_most_workers_ahead() -> None:
    started: list[int] = []
    lock = threading.Lock()
    consumed = 0

    def work(i: int) -> int:
        with lock:
            started.append(i)
            ahead = i - consumed
        assert ahead <= 2  # at most two items beyond the one being consumed
        time.sleep(0.001 * (7 - i % 7))  # later items may finish first
        return i * i

    out = []
    for value in ordered_map(work, list(range(20)), 2):
        out.append(value)
        with lock:
            consumed += 1
    assert out == [i * i for i in range(20)]
    assert sorted(started) == list(range(20))
    assert list(ordered_map(work, [3], 4)) == [9]
    assert list(ordered_map(work, [], 2)) == []
