"""Results do not depend on the memory budget or the number of workers.

A tiny per-task budget forces the partitioned engine to cut the actions into many key
partitions, the pairs into many chunks and pair partitions, and to spill everything; the
output folder must be the same, byte for byte (``summary.json`` aside from the timings and
the resources it records), as with the default budget on every core.
"""

from __future__ import annotations

import ctypes
import pickle
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coordscope as cs
from coordscope._output import write_table
from coordscope.budget import MIN_MEMORY, Budget, trim_freed_memory
from coordscope.compat import detect_cnt, detect_coortweet
from coordscope.datasets.simulate import simulate
from coordscope.engine.partitioned import PairPartition, Sieve
from coordscope.engine.runners import LocalRunner, PairEngine
from coordscope.outputs import write_audit
from coordscope.parts import PARQUET_ROW_GROUP, PartedTable, WorkDir
from coordscope.runs import run_audit, run_detect
from tests.conftest import output_folder


@pytest.fixture(scope="module")
def mixed_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events, _ = simulate("mixed", seed=5, size="tiny")
    path = tmp_path_factory.mktemp("mixed") / "events.parquet"
    events.write_parquet(path)
    return path


@pytest.fixture(scope="module")
def reference(mixed_events: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("ref") / "audit"
    run_audit([str(mixed_events)], out)
    folder = output_folder(out)
    assert not any(name.startswith(".") for name in folder)  # the work dir is gone
    return folder


@pytest.mark.parametrize(("task", "workers"), [(2_000, 1), (2_000, 2), (50_000, 3), (10**6, 2)])
def test_audit_folder_is_identical_under_any_budget(
    mixed_events: Path, reference: dict[str, Any], tmp_path: Path, task: int, workers: int
) -> None:
    out = tmp_path / "audit"
    budget = Budget(memory=MIN_MEMORY, workers=workers, task=task)
    result = run_audit([str(mixed_events)], out, memory=budget)
    assert result.summary["resources"]["workers"] == workers
    assert output_folder(out) == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]  # no spill left behind


class _SievingEngine:
    """The local pair engine, but each partition goes through the sieve, pickled, first.

    What the Spark engine does on its executors: the untested pairs' edges are written
    where the partition is reduced, and only the candidates reach the consumer.
    """

    def __init__(self, inner: PairEngine) -> None:
        self.inner = inner
        self.sieved = 0

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.inner.add(*args, **kwargs)

    def reduce(self) -> Iterator[PairPartition]:
        return self.inner.reduce()

    def reduce_each(
        self, then: Callable[[PairPartition], Any], *, sieve: Sieve | None = None
    ) -> Iterator[Any]:
        assert sieve is not None  # the significance stage always offers one
        shipped = pickle.loads(pickle.dumps(sieve))

        def sieved(part: PairPartition) -> Any:
            kept = shipped(part)
            assert kept.notes and kept.notes[0] == part.pairs.height
            assert kept.pairs.height <= part.pairs.height
            self.sieved += 1
            return then(kept)

        return self.inner.reduce_each(sieved)


class _SievingRunner(LocalRunner):
    name = "sieving"

    def __init__(self) -> None:
        self.engines: list[_SievingEngine] = []

    def pair_engine(self, **kwargs: Any) -> PairEngine:
        engine = _SievingEngine(super().pair_engine(**kwargs))
        self.engines.append(engine)
        return engine


@pytest.mark.parametrize(("task", "workers"), [(2_000, 2), (None, 2)])
def test_sieved_partitions_give_the_same_folder(
    mixed_events: Path, reference: dict[str, Any], tmp_path: Path, task: int | None, workers: int
) -> None:
    out = tmp_path / "audit"
    runner = _SievingRunner()
    budget = (
        Budget(workers=workers)
        if task is None
        else Budget(memory=MIN_MEMORY, workers=workers, task=task)
    )
    run_audit([str(mixed_events)], out, memory=budget, runner=runner)
    assert sum(engine.sieved for engine in runner.engines) >= (1 if task is None else 10)
    assert output_folder(out) == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(task=st.integers(200, 200_000), workers=st.integers(1, 3))
def test_edge_table_does_not_depend_on_the_partitioning(task: int, workers: int) -> None:
    events, _ = simulate("rotating_subsets", seed=2, size="tiny")
    base = cs.audit(events)
    cut = cs.audit(events, memory=Budget(memory=MIN_MEMORY, workers=workers, task=task))
    assert cut.edges.equals(base.edges)
    assert cut.coactions.equals(base.coactions)
    assert cut.clusters.equals(base.clusters)
    assert cut.nodes.equals(base.nodes)


def test_detect_modes_are_identical_under_a_tiny_budget(tmp_path: Path) -> None:
    events, _ = simulate("mixed", seed=1, size="tiny")
    for mode in ("native", "cnt", "coortweet"):
        kwargs: dict[str, Any] = {"signals": ["co_share"], "window": 60}
        if mode == "native":
            big = cs.detect(events, **kwargs)
            small = cs.detect(
                events, memory=Budget(memory=MIN_MEMORY, workers=1, task=500), **kwargs
            )
        elif mode == "cnt":
            big = detect_cnt(events, **kwargs)
            small = detect_cnt(events, memory="64MB", workers=1, **kwargs)
        else:
            big = detect_coortweet(events, **kwargs)
            small = detect_coortweet(events, memory="64MB", **kwargs)
        assert small.edges.equals(big.edges), (mode, "edges", _difference(small.edges, big.edges))
        assert small.coactions.equals(big.coactions), (
            mode, "coactions", _difference(small.coactions, big.coactions)
        )  # fmt: skip


def _difference(a: pl.DataFrame, b: pl.DataFrame) -> str:
    """Describe where two frames first differ (shape, or the first differing row)."""
    if a.shape != b.shape or a.columns != b.columns:
        return f"shapes {a.shape} {b.shape}, columns {a.columns} {b.columns}"
    for i in range(a.height):
        if a.row(i) != b.row(i):
            return f"row {i}: {a.row(i)!r} != {b.row(i)!r}"
    return "same rows, different dtypes or chunks"


def test_work_dir_is_removed_after_an_error(tmp_path: Path, mixed_events: Path) -> None:
    work = tmp_path / "work"
    with pytest.raises(cs.ParameterError):
        run_audit([str(mixed_events)], tmp_path / "out", work_dir=work, alpha=5.0)
    # a bad option is found before any work: no work folder was even made
    assert not work.exists() or list(work.iterdir()) == []
    # an error in the middle of the work (the input is not a readable file) leaves none
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(cs.InputError):
        run_audit([str(bad)], tmp_path / "out", work_dir=work)
    assert work.is_dir() and list(work.iterdir()) == []


def test_edges_csv_is_the_head_of_edges_parquet(tmp_path: Path, mixed_events: Path) -> None:
    out = tmp_path / "audit"
    result = run_audit([str(mixed_events)], out)
    parquet = pl.read_parquet(out / "edges.parquet")
    csv = pl.read_csv(out / "edges.csv")
    assert csv.height == parquet.height == result.summary["counts"]["edges_csv_rows"]
    assert csv["actor_a"].cast(pl.String).to_list() == parquet["actor_a"].to_list()
    # the result reads the written table once the spill files are gone
    assert result.edges.equals(parquet)


def test_parquet_bytes_do_not_depend_on_how_the_rows_were_cut(tmp_path: Path) -> None:
    # the writer cuts pages by the memory a column takes, which for strings and lists
    # depends on how their buffers were sliced: before the rows were re-cut into compact
    # row groups, these four cuts of the same 827,771 rows gave four different files
    size = PARQUET_ROW_GROUP * 3 + 41_339
    rng = np.random.default_rng(0)
    lists = pl.Series([["co_share"], ["co_link"], ["co_hashtag", "co_share"], ["a", "b", "c"]])
    rows = pl.DataFrame(
        {"actor": pl.Series(rng.integers(10**11, 10**12, size)).cast(pl.String),
         "k": rng.integers(0, 4, size)}
    ).with_columns(
        pl.lit(lists).gather(pl.col("k")).alias("signals"),
        pl.col("actor").str.slice(0, pl.col("k") + 3).alias("short"),
    )  # fmt: skip
    digests = set()
    for cut in (size, 150_001, 300_000, 77_777):
        work = WorkDir(tmp_path)
        pieces = [work.spill(rows.slice(at, cut), "piece") for at in range(0, size, cut)]
        out = tmp_path / f"cut-{cut}.parquet"
        PartedTable(pieces, rows.schema).sink_parquet(out)
        digests.add(out.read_bytes())
        assert pl.read_parquet(out).equals(rows)
        work.close()
    assert len(digests) == 1
    empty = tmp_path / "empty.parquet"
    PartedTable([], rows.schema).sink_parquet(empty)
    assert pl.read_parquet(empty).equals(rows.head(0))


def test_events_read_lazily_give_the_held_events_folder(tmp_path: Path, mixed_events: Path) -> None:
    # a scan of the events (what `coordscope audit` gives the pipeline) and the table held
    # in memory: every stage reads what it needs from the scan, and every file is the same
    held = cs.audit(pl.read_parquet(mixed_events), seed=3, pseudonymize="k")
    lazy = cs.audit(pl.scan_parquet(mixed_events), seed=3, pseudonymize="k")
    assert isinstance(lazy.events, pl.LazyFrame)
    write_audit(held, tmp_path / "held")
    write_audit(lazy, tmp_path / "lazy")
    assert output_folder(tmp_path / "lazy") == output_folder(tmp_path / "held")
    assert lazy.cluster_evidence(0).equals(held.cluster_evidence(0))


def test_the_audit_command_does_not_hold_the_events(tmp_path: Path, mixed_events: Path) -> None:
    out = tmp_path / "audit"
    result = run_audit([str(mixed_events)], out)
    # after the run its events are a scan of the events.parquet it wrote
    assert isinstance(result.events, pl.LazyFrame)
    assert result.events.collect().equals(pl.read_parquet(out / "events.parquet"))
    assert result.events.collect().equals(pl.read_parquet(mixed_events))


@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "t.tsv", "t.jsonl"])
def test_a_lazy_table_is_written_as_the_held_one(tmp_path: Path, name: str) -> None:
    events, _ = simulate("mixed", seed=2, size=50_000)
    rows = pl.concat([events] * 6)  # more than one row group
    assert rows.height > PARQUET_ROW_GROUP
    source = tmp_path / "source.parquet"
    rows.write_parquet(source, row_group_size=7_919)  # cut unlike the output
    write_table(rows, tmp_path / "held" / name)
    write_table(pl.scan_parquet(source), tmp_path / "lazy" / name)
    assert (tmp_path / "lazy" / name).read_bytes() == (tmp_path / "held" / name).read_bytes()


def test_native_detect_of_a_scan_is_the_held_one(tmp_path: Path, mixed_events: Path) -> None:
    # run_detect in native mode spills the events and reads them back lazily
    summary = run_detect(
        [str(mixed_events)], tmp_path / "run", signals=["co_share", "co_link"], window=60
    )
    assert summary["rows"]["accepted"] == pl.read_parquet(mixed_events).height
    held = cs.detect(pl.read_parquet(mixed_events), signals=["co_share", "co_link"], window=60)
    lazy = cs.detect(pl.scan_parquet(mixed_events), signals=["co_share", "co_link"], window=60)
    assert lazy.edges.equals(held.edges)
    assert lazy.coactions.equals(held.coactions)
    assert lazy.nodes.equals(held.nodes)
    assert pl.read_parquet(tmp_path / "run" / "edges.parquet").equals(held.edges)
    assert pl.read_parquet(tmp_path / "run" / "events.parquet").equals(
        pl.read_parquet(mixed_events)
    )
    assert not any(p.name.startswith(".") for p in (tmp_path / "run").iterdir())


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")
def test_trim_freed_memory_returns_free_chunks_below_a_live_one() -> None:
    # 64 MB in 256 KB blocks written to (resident), all freed but the last: glibc keeps
    # the free chunks below the live block; a trim hands their pages back
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: blocks below 1 MiB come from the heap
    block = 256 << 10
    pointers = [libc.malloc(block) for _ in range(256)]
    for p in pointers:
        ctypes.memset(p, 1, block)
    for p in pointers[:-1]:
        libc.free(p)
    before = _rss_bytes()
    assert trim_freed_memory()
    after = _rss_bytes()
    libc.free(pointers[-1])
    assert before - after > 32 << 20


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
