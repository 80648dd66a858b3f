"""Native detection's tables from the partitioned engine against a brute-force reference.

:func:`coordscope.engine.tables.pair_tables` writes edges and evidence one pair partition
at a time under any budget; whatever the cut, they must be what a loop over every pair of
actions gives: per (pair, key) the co-actions, the smallest Δt and the two events of the
closest co-action (ties: the first in (key, time, input row) order), per pair the edge.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations
from statistics import median

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.budget import MIN_MEMORY, Budget
from coordscope.engine.tables import pair_tables
from coordscope.parts import WorkDir
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def frame(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    """Actions from ``(signal, key, actor, second)`` rows; event ids ``e0, e1, …``."""
    return pl.DataFrame(
        {
            "signal": [r[0] for r in rows],
            "key": [r[1] for r in rows],
            "actor_id": [r[2] for r in rows],
            "ts": [T0 + timedelta(seconds=r[3]) for r in rows],
            "event_id": [f"e{i}" for i in range(len(rows))],
        },
        schema={
            "signal": pl.String,
            "key": pl.String,
            "actor_id": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "event_id": pl.String,
        },
    )


def brute(rows: list[tuple[str, str, str, int]], window: int) -> tuple[list, list]:
    """Edges and evidence rows by a loop over every pair of actions."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][1], rows[i][3], i))
    per_key: dict[tuple, dict] = {}
    for x, y in combinations(order, 2):  # x before y in (key, time, row) order
        (sx, kx, ax, tx), (sy, ky, ay, ty) = rows[x], rows[y]
        if (sx, kx) != (sy, ky) or ax == ay or abs(ty - tx) > window:
            continue
        a, b = sorted((ax, ay))
        ev_a, ev_b = (x, y) if ax == a else (y, x)
        cell = per_key.setdefault((a, b, sx, kx), {"n": 0, "best": None, "t": []})
        cell["n"] += 1
        cell["t"] += [tx, ty]
        if cell["best"] is None or abs(ty - tx) < cell["best"][0]:
            cell["best"] = (abs(ty - tx), ev_a, ev_b)
    evidence = sorted(
        (a, b, s, k, c["n"], float(c["best"][0]), f"e{c['best'][1]}", f"e{c['best'][2]}")
        for (a, b, s, k), c in per_key.items()
    )
    edges: dict[tuple, list] = {}
    for (a, b, s, _key), c in per_key.items():
        edges.setdefault((a, b), []).append((s, c))
    edge_rows = sorted(
        (
            a,
            b,
            len(cells),
            sum(c["n"] for _, c in cells),
            float(min(c["best"][0] for _, c in cells)),
            float(median(c["best"][0] for _, c in cells)),
            min(t for _, c in cells for t in c["t"]),
            max(t for _, c in cells for t in c["t"]),
            sorted({s for s, _ in cells}),
        )
        for (a, b), cells in edges.items()
    )
    return edge_rows, evidence


def run(rows: list[tuple[str, str, str, int]], window: int, task: int) -> tuple[list, list]:
    work = WorkDir()
    try:
        got = pair_tables(
            frame(rows),
            window=float(window),
            budget=Budget(memory=MIN_MEMORY, workers=2, task=task),
            work=work,
        )
        edges = got.edges.collect()
        evidence = got.evidence.collect()
        assert edges.schema == pl.Schema(EDGE_SCHEMA)
        assert evidence.schema == pl.Schema(EVIDENCE_SCHEMA)
        base = int(T0.timestamp())
        seconds = (pl.col(c).dt.epoch("s") - base for c in ("first_ts", "last_ts"))
        edge_rows = edges.select(
            "actor_a", "actor_b", "n_keys", "n_coactions", "min_dt", "median_dt", *seconds,
            "signals",
        ).rows()  # fmt: skip
        ev_rows = evidence.select(
            "actor_a", "actor_b", "signal", "key", "n_coactions", "dt", "event_a", "event_b"
        ).rows()
        return [(*r[:8], list(r[8])) for r in edge_rows], list(ev_rows)
    finally:
        work.close()


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["co_link", "co_share"]),
        st.sampled_from(["k1", "k2", "k3"]),
        st.sampled_from(["u1", "u2", "u3", "u4"]),
        st.integers(0, 30),  # seconds: many ties
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, window=st.integers(0, 10), task=st.sampled_from([64, 10**9]))
def test_pair_tables_equal_brute_force(
    rows: list[tuple[str, str, str, int]], window: int, task: int
) -> None:
    edges, evidence = run(rows, window, task)
    want_edges, want_evidence = brute(rows, window)
    assert edges == want_edges
    assert evidence == want_evidence


def test_hand_checked_detection() -> None:
    # k1: u1 at 0 s and u2 twice at 5 s (simultaneous): the closest co-action is u1's e0
    # with u2's first event e1; k2 (link): u1 and u2 11 s apart, outside W = 10 s
    rows = [
        ("co_share", "k1", "u1", 0),
        ("co_share", "k1", "u2", 5),
        ("co_share", "k1", "u2", 5),
        ("co_link", "k2", "u1", 0),
        ("co_link", "k2", "u2", 11),
    ]
    edges, evidence = run(rows, 10, 64)
    assert edges == [("u1", "u2", 1, 2, 5.0, 5.0, 0, 5, ["co_share"])]
    assert evidence == [("u1", "u2", "co_share", "k1", 2, 5.0, "e0", "e1")]
    assert run([], 10, 64) == ([], [])
    assert run([("co_share", "k1", "u1", 0), ("co_share", "k1", "u1", 1)], 10, 64) == ([], [])
