"""Significance (coordscope.stats.significance and its kernels in .null)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from coordscope.engine.runners import LocalRunner
from coordscope.errors import ParameterError
from coordscope.parts import WorkDir
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA, GROUP_SCHEMA, SIGNIFICANCE_COLUMNS
from coordscope.stats import null
from coordscope.stats.significance import benjamini_hochberg, significance, simes
from tests.conftest import utc

T0 = utc(2024, 3, 1)


# ----------------------------------------------------------------- π_k by hand and brute force


def test_key_stats_by_hand() -> None:
    # key 0: a@0, b@30, a@50, c@100 (W = 60 s). Different-account pairs: D = (16 − 6)/2 = 5;
    # in-window pairs (0,30) (0,50) (30,50) (50,100) = 4, one of them a with a: π = 3/5.
    # key 1: a@0 only: no pair, π = 0. key 2: b@0, c@61: D = 1, none within 60 s: π = 0.
    k = np.array([0, 0, 0, 0, 1, 2, 2])
    a = np.array([0, 1, 0, 2, 0, 1, 2])
    t = np.array([0, 30, 50, 100, 0, 0, 61]) * 1_000_000
    ks = null.key_stats(k, a, t, np.full(7, 60_000_000), 3)
    assert ks.pi.tolist() == pytest.approx([0.6, 0.0, 0.0])
    assert ks.actors.tolist() == [3, 1, 2]


def _pi_brute(k: np.ndarray, a: np.ndarray, t: np.ndarray, w: int, n_keys: int) -> np.ndarray:
    num = np.zeros(n_keys)
    den = np.zeros(n_keys)
    for i, j in itertools.combinations(range(k.shape[0]), 2):
        if k[i] == k[j] and a[i] != a[j]:
            den[k[i]] += 1
            num[k[i]] += abs(int(t[i]) - int(t[j])) <= w
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 200)),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 80),
)
def test_key_stats_matches_brute_force(rows: list[tuple[int, int, int]], w: int) -> None:
    k = np.array([r[0] for r in rows], dtype=np.int64)
    a = np.array([r[1] for r in rows], dtype=np.int64)
    t = np.array([r[2] for r in rows], dtype=np.int64)
    ks = null.key_stats(k, a, t, np.full(k.shape[0], w, dtype=np.int64), 4)
    np.testing.assert_allclose(ks.pi, _pi_brute(k, a, t, w, 4))


# ------------------------------------------------------------------- tails, BH, Simes by hand


def test_conditional_tail_by_hand() -> None:
    lam = np.array([0.5, 0.5, 2.0])
    x = np.array([1.0, 2.0, 0.0])
    got = null.conditional_tail(lam, x)
    # x = 1 (and 0) can never be evidence; P(Pois(.5) >= 2) = 0.090204 / (1 − e^−.5) = .229253
    assert got.tolist() == pytest.approx([1.0, 0.2292529, 1.0], rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.001, 0.9), min_size=1, max_size=8), st.integers(1, 8))
def test_conditional_tail_is_conservative(q: list[float], x: int) -> None:
    """Exact P(X >= x | X >= 1) of a Poisson-binomial never exceeds the bound."""
    probs = np.array(q)
    dist = np.zeros(probs.shape[0] + 1)
    dist[0] = 1.0
    for p in probs:  # exact Poisson-binomial by convolution (test reference)
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    exact = dist[x:].sum() / (1.0 - dist[0]) if x <= probs.shape[0] else 0.0
    bound = null.conditional_tail(np.array([probs.sum()]), np.array([float(x)]))[0]
    if x >= probs.sum() + 1 or x <= 1:  # where the Poisson bound is proved
        assert exact <= bound + 1e-12


def test_benjamini_hochberg_by_hand() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted .01 .03 .04 .5 → 4p/i = .04 .06 .0533 .5 → running minimum from the right
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    # four more hypotheses with p = 1 (not given) double every q-value
    assert benjamini_hochberg(p, m=8).tolist() == pytest.approx([0.08, 0.32 / 3, 0.32 / 3, 1.0])
    assert benjamini_hochberg(np.array([])).shape == (0,)


def test_simes_by_hand() -> None:
    frame = pl.DataFrame({"pid": [1, 1, 2, 2, 2], "p": [0.04, 0.01, 0.3, 0.02, 0.9]})
    out = simes(frame, by="pid").sort("pid")
    # pair 1: min(2·.01/1, 2·.04/2) = .02; pair 2: min(3·.02, 3·.3/2, 3·.9/3) = .06
    assert out["p"].to_list() == pytest.approx([0.02, 0.06])


# ------------------------------------------------------------- model kernels vs brute force


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(1, 30), min_size=2, max_size=6),
    st.lists(
        st.tuples(st.integers(1, 50), st.floats(0.0, 1.0, allow_subnormal=False)),
        min_size=1,
        max_size=12,
    ),
)
def test_expected_cooc_matches_brute_force(
    n_actor: list[int], keys: list[tuple[int, float]]
) -> None:
    na = np.array(n_actor, dtype=np.float64)
    nk = np.array([k[0] for k in keys], dtype=np.float64)
    pi = np.array([k[1] for k in keys])
    # halves as a bit mask: 1 = half 0 only, 2 = half 1 only, 3 = both (a unit
    # straddling a block boundary counts in both)
    half = (np.arange(nk.shape[0]) % 3 + 1).astype(np.int8)
    model = null.fit_model(na, nk, pi, half)
    total = nk.sum()
    mu = na[:, None] * nk[None, :] / total  # expected actions of each account on each key
    a, b = np.array([0, 1]), np.array([1, len(n_actor) - 1])
    for table, sel in ((2, np.ones(nk.shape[0], bool)), (0, half != 2), (1, half != 1)):
        brute = [
            np.minimum(1.0, mu[i, sel] * mu[j, sel] * pi[sel]).sum()
            for i, j in zip(a, b, strict=True)
        ]
        np.testing.assert_allclose(
            null.expected_cooc(model, a, b, table), brute, rtol=1e-9, atol=1e-300
        )
    # expected activity and popularity equal the observed
    np.testing.assert_allclose(mu.sum(axis=1), na * nk.sum() / total)


def test_common_keys_by_hand_smaller_side() -> None:
    incidence = pl.DataFrame(
        {"a": [0, 0, 0, 1, 1, 2], "k": [10, 11, 12, 11, 12, 10], "m": [1, 2, 1, 3, 1, 5]}
    )
    pairs = pl.DataFrame({"pid": [7, 8], "a": [0, 1], "b": [1, 2], "da": [3, 2], "db": [2, 1]})
    out = null.common_keys(pairs, incidence).sort(["pid", "k"])
    assert out.rows() == [(7, 11, 2, 3), (7, 12, 1, 1)]  # pair (1, 2) shares nothing


# --------------------------------------------------------------------- end to end by hand


def _acts(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    """Actions from (signal, key, actor, seconds after T0)."""
    return pl.DataFrame(
        {
            "signal": [r[0] for r in rows],
            "key": [r[1] for r in rows],
            "actor_id": [r[2] for r in rows],
            "ts": [T0 + timedelta(seconds=r[3]) for r in rows],
            "event_id": [f"e{i}" for i in range(len(rows))],
            "event": list(range(len(rows))),
        },
        schema={
            "signal": pl.String, "key": pl.String, "actor_id": pl.String,
            "ts": pl.Datetime("us", "UTC"), "event_id": pl.String, "event": pl.UInt32,
        },
    )  # fmt: skip


def _planted(n_keys: int = 24, seed: int = 0) -> pl.DataFrame:
    """A squad s0..s4 co-sharing 24 posts within seconds, among 200 accounts sharing them
    (and 600 other posts) at random times over 3 days."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, str, float]] = []
    for k in range(n_keys):
        start = float(rng.uniform(0, 2.5 * 86400))
        rows += [
            ("co_share", f"p{k}", f"s{m}", start + float(rng.uniform(0, 10))) for m in range(5)
        ]
    for _ in range(3000):
        rows.append(
            ("co_share", f"p{rng.integers(0, n_keys + 600)}", f"u{rng.integers(0, 200):03d}",
             float(rng.uniform(0, 3 * 86400)))
        )  # fmt: skip
    return _acts(rows)


def test_planted_squad_is_found() -> None:
    res = significance(_planted(), seed=0)
    sig = res.edges.filter("significant")
    squad = {f"s{m}" for m in range(5)}
    # the C(5, 2) = 10 squad pairs co-acted on all 24 posts: every one is significant,
    # nothing else
    assert sig.height == 10
    assert set(sig["actor_a"]) | set(sig["actor_b"]) == squad
    assert (sig["n_keys"] == 24).all()
    flagged = set(res.groups.filter("significant")["members"].explode().to_list())
    assert flagged == squad
    assert res.counts["significant_edges"] == 10


def test_output_schemas_and_determinism() -> None:
    acts = _planted()
    res = significance(acts, seed=1)
    assert res.edges.schema == pl.Schema({**EDGE_SCHEMA, **SIGNIFICANCE_COLUMNS})
    assert res.evidence.schema == pl.Schema(EVIDENCE_SCHEMA)
    assert res.groups.schema == pl.Schema(GROUP_SCHEMA)
    assert (res.edges["actor_a"] < res.edges["actor_b"]).all()
    again = significance(acts.sample(fraction=1.0, shuffle=True, seed=5), seed=1)
    assert again.edges.equals(res.edges)  # row order of the input does not matter
    assert again.groups.equals(res.groups)
    assert res.edges.filter(~pl.col("significant"))["evidence"].eq("").all()


def test_single_coaction_is_never_evidence() -> None:
    # two accounts that share one post within a second, and nothing else
    res = significance(_acts([("co_share", "x", "a", 0), ("co_share", "x", "b", 1)]))
    assert res.edges.height == 1
    assert res.edges["pvalue"].item() == 1.0
    assert not res.edges["significant"].item()
    assert res.groups.height == 0


def test_scheduled_accounts_are_clock_explained() -> None:
    # three bots post the same 20 links at the same whole minutes: a clock, not a squad
    rows = [("co_link", f"u{k}", f"bot{b}", 900.0 * (k + 1)) for k in range(20) for b in range(3)]
    background = _planted(n_keys=0).with_columns(pl.lit("co_link").alias("signal"))
    res = significance(pl.concat([_acts(rows), background]))
    assert res.counts["scheduled_accounts"] == 3  # bot0, bot1, bot2
    assert res.counts["clock_coactions"] == 60  # 3 bot pairs × 20 links, all explained
    assert not res.edges["significant"].any()
    # the same schedule a few seconds off the minute marks is significant
    jitter = [(s, k, a, t + 7 * (int(a[-1]) + 1)) for s, k, a, t in rows]
    res = significance(pl.concat([_acts(jitter), background]))
    bots = res.edges.filter(pl.col("actor_a").str.starts_with("bot"))
    assert bots.height == 3  # the C(3, 2) bot pairs
    assert bots["significant"].all()


def test_parameters_checked() -> None:
    acts = _planted(n_keys=2)
    with pytest.raises(ParameterError, match="alpha"):
        significance(acts, alpha=1.5)
    with pytest.raises(ParameterError, match="window"):
        significance(acts, window=-1)
    with pytest.raises(ParameterError, match="unknown signal"):
        significance(acts, windows={"co_nothing": 5})
    with pytest.raises(ParameterError, match="seed"):
        significance(acts, seed=-1)
    with pytest.raises(ParameterError, match="column 'key'"):
        significance(acts.drop("key"))


def test_poisson_reference_value() -> None:
    # the tail used is scipy's: P(Pois(3) >= 7)
    assert null.conditional_tail(np.array([3.0]), np.array([7.0]))[0] == pytest.approx(
        stats.poisson.sf(6, 3.0) / (1 - np.exp(-3.0))
    )


class _Elsewhere(LocalRunner):
    """A runner that is not this process's: the key partitions go through its
    ``map_key_partitions`` (the local one: the same contract as Spark's)."""

    name = "elsewhere"


# ------------------------------------------------------------------ saturation, event-wide


def test_a_saturated_burst_is_dropped_from_the_hashtags_its_reposts_carry() -> None:
    """A flash-viral repost burst inside a long-lived hashtag unit is not enumerated there.

    200 organic posts with #news every 30 s (one unit of 100 minutes, π ≈ 0.02); 120
    accounts repost post P within 48 s at minute 60 of it, and every repost carries #news.
    The co_share unit of P (120 accounts, π = 1) is saturated; the #news unit, diluted by
    the organic posts, is not: of its 320·319/2 = 51,040 pairs, 8,019 are within 60 s
    (397 organic–organic, 7,140 within the burst, 482 organic–burst: 1 + 76 + 120 + 120 +
    120 + 45 for the posts at 7,140 … 7,290 s), π ≈ 0.157 < 0.25. The reposts' #news
    actions go with their events: the coded actions are the 200 organic ones only, and
    the 240 actions of the 120 reposts are counted as saturated.
    """
    from coordscope.stats.units import code_units

    organic = [
        ("co_hashtag", "news", f"o{i:03d}", T0 + timedelta(seconds=3600 + 30 * i), f"p{i}", i)
        for i in range(200)
    ]
    burst = []
    for j in range(120):
        ts = T0 + timedelta(seconds=7200 + 0.4 * j)
        burst.append(("co_share", "P", f"v{j:03d}", ts, f"r{j}", 200 + j))
        burst.append(("co_hashtag", "news", f"v{j:03d}", ts, f"r{j}", 200 + j))
    acts = pl.DataFrame(
        organic + burst,
        schema={"signal": pl.String, "key": pl.String, "actor_id": pl.String,
                "ts": pl.Datetime("us", "UTC"), "event_id": pl.String, "event": pl.UInt32},
        orient="row",
    )  # fmt: skip
    win = {"co_hashtag": 60.0, "co_share": 60.0}
    units = code_units(acts, ["co_hashtag", "co_share"], win, seed=0)
    elsewhere = code_units(
        acts, ["co_hashtag", "co_share"], win, seed=0, part_rows=7, runner=_Elsewhere(),
        work=WorkDir(),
    )  # fmt: skip
    assert elsewhere.coded.equals(units.coded)
    assert elsewhere.incidence.shared.equals(units.incidence.shared)
    assert elsewhere.n_saturated_actions == 240
    assert elsewhere.saturated.tolist() == units.saturated.tolist()
    assert elsewhere.incidence.activity.tolist() == units.incidence.activity.tolist()
    assert units.table.height == 2  # one #news unit, one unit of P
    codes = units.table.with_row_index("k")  # a unit's code is its row
    news = int(codes.filter(pl.col("s") == 0)["k"].item())
    share = int(codes.filter(pl.col("s") == 1)["k"].item())
    assert units.saturated.tolist() == [k == share for k in range(2)]
    assert units.pi[share] == 1.0
    assert units.pi[news] == pytest.approx(8019 / 51040)
    assert units.n_saturated_actions == 240
    assert sorted(units.coded["event"].to_list()) == list(range(200))


# ------------------------------------------------------------------ crowded units


def _hashtag_stream(n: int, spacing_us: int) -> list[tuple[str, str, str, datetime, str, int]]:
    """``n`` accounts each using #all once, one every ``spacing_us`` microseconds."""
    return [
        ("co_hashtag", "all", f"o{i:05d}", T0 + timedelta(microseconds=spacing_us * i), f"p{i}", i)
        for i in range(n)
    ]


_ACT_SCHEMA = {
    "signal": pl.String, "key": pl.String, "actor_id": pl.String,
    "ts": pl.Datetime("us", "UTC"), "event_id": pl.String, "event": pl.UInt32,
}  # fmt: skip


@pytest.mark.parametrize(("n", "crowded"), [(1326, True), (1325, False)])
def test_a_unit_is_crowded_from_a_hundred_neighbours_per_action_inclusive(
    n: int, crowded: bool
) -> None:
    """One action every 1.17 s: each has its 51 successors within 60 s (52 · 1.17 > 60).

    ``near = 51·n − 51·52/2 = 51·n − 1326``; the rule ``2·near >= 100·n`` holds exactly
    at n = 1326 (near = 66,300 = 50·1326) and fails at n = 1325 (66,249 < 66,250). π stays
    below 0.25 (66,300 / 878,475 ≈ 0.075): the unit is not saturated, and its actions stay
    coded either way.
    """
    from coordscope.stats.units import code_units

    acts = pl.DataFrame(_hashtag_stream(n, 1_170_000), schema=_ACT_SCHEMA, orient="row")
    units = code_units(acts, ["co_hashtag"], {"co_hashtag": 60}, seed=0)
    near = 51 * n - 1326
    assert units.pi[0] == pytest.approx(near / (n * (n - 1) / 2))
    assert units.pi[0] < 0.08
    assert units.crowded.tolist() == [crowded]
    assert units.saturated.tolist() == [False]
    assert units.coded.height == n
    assert units.n_saturated_actions == 0


def test_a_crowded_unit_is_not_enumerated_but_stays_in_the_null_model() -> None:
    """The co-actions of a crowded hashtag make no edge; its events keep their links.

    1,326 accounts use #all one every 1.17 s (crowded, above): 66,300 in-window pairs,
    none of them enumerated. Two of them, o00000 and o00001, also post link L in those
    posts, 1.17 s apart: their pair is the only edge, co-acted on the link alone. The
    hashtag unit is still in the null model (the incidence holds its 1,326 actions).
    """
    rows = _hashtag_stream(1326, 1_170_000)
    rows += [("co_link", "L", a, ts, e, ev) for (_, _, a, ts, e, ev) in rows[:2]]
    acts = pl.DataFrame(rows, schema=_ACT_SCHEMA, orient="row")
    sig = significance(acts, window=60)
    edges = sig.edges
    assert edges.select("actor_a", "actor_b", "n_keys", "signals").to_dicts() == [
        {"actor_a": "o00000", "actor_b": "o00001", "n_keys": 1, "signals": ["co_link"]}
    ]
    assert sig.counts["crowded_units"] == 1
    assert sig.counts["saturated_units"] == 0
    from coordscope.stats.units import code_units

    units = code_units(acts, ["co_hashtag", "co_link"], {"co_hashtag": 60, "co_link": 60}, seed=0)
    assert units.incidence.per_signal.tolist() == [1326, 2]
    assert units.incidence.shared.group_by("s").agg(pl.col("m").sum()).sort("s").rows() == [
        (0, 1326),
        (1, 2),
    ]
    assert units.incidence.activity.sum() == 1328
    only_crowded = significance(acts.filter(pl.col("signal") == "co_hashtag"), window=60)
    assert only_crowded.edges.height == 0


# ------------------------------------------------------ evidence strings looked up at the end


@pytest.mark.parametrize("slice_rows", [1, 2, 1 << 22])
def test_evidence_keys_and_events_are_looked_up_by_row_and_sorted_by_key(
    tmp_path, monkeypatch: pytest.MonkeyPatch, slice_rows: int
) -> None:
    from coordscope.parts import WorkDir
    from coordscope.stats import evidence
    from coordscope.stats.evidence import CODED_EVIDENCE_SCHEMA, resolve_evidence

    monkeypatch.setattr(evidence, "_SLICE_ROWS", slice_rows)  # actions read that many at a time

    # action rows 0..5; the coded evidence refers to them by row
    acts = pl.DataFrame(
        {
            "key": ["zeta", "alpha", "mid", "alpha", "zeta", "beta"],
            "event_id": ["e0", "e1", "e2", "e3", "e4", "e5"],
        }
    ).lazy()

    def coded(rows: list[tuple[str, str, int, int, int]]) -> pl.DataFrame:
        # (actor_a, actor_b, key_row, row_a, row_b); in key-code order, not key order
        return pl.DataFrame(
            {
                "actor_a": [r[0] for r in rows],
                "actor_b": [r[1] for r in rows],
                "signal": ["co_link"] * len(rows),
                "key_row": [r[2] for r in rows],
                "n_coactions": [1] * len(rows),
                "dt": [float(i) for i in range(len(rows))],
                "row_a": [r[3] for r in rows],
                "row_b": [r[4] for r in rows],
                "ts_a": [T0] * len(rows),
                "ts_b": [T0] * len(rows),
            },
            schema=CODED_EVIDENCE_SCHEMA,
        )

    first = coded([("a", "b", 0, 0, 4), ("a", "b", 1, 1, 3)])  # zeta then alpha
    second = coded([("a", "c", 5, 5, 2), ("b", "c", 2, 2, 5)])
    expected = [
        [("a", "b", "alpha", "e1", "e3"), ("a", "b", "zeta", "e0", "e4")],
        [("a", "c", "beta", "e5", "e2"), ("b", "c", "mid", "e2", "e5")],
    ]
    for rows in (1, 2, 100):  # one scan per piece, per two rows, for all
        work = WorkDir(tmp_path)
        pieces = [work.spill(first, "ev"), second]
        out = resolve_evidence(pieces, acts, rows=rows, work=work)
        assert len(out) == 2
        assert not pieces[0].exists()  # the coded file is replaced by the resolved one
        for piece, want in zip(out, expected, strict=True):
            frame = pl.read_ipc(piece) if not isinstance(piece, pl.DataFrame) else piece
            assert frame.schema == pl.Schema(EVIDENCE_SCHEMA)
            got = frame.select("actor_a", "actor_b", "key", "event_a", "event_b").rows()
            assert got == want
        work.close()


def test_significance_of_a_scan_equals_that_of_the_held_actions() -> None:
    from coordscope.datasets.simulate import simulate
    from coordscope.signals.actions import actions

    events, _ = simulate("mixed", seed=3, size="tiny")
    acts = actions(events, signals=["co_share", "co_hashtag", "co_link", "co_created"])
    held = significance(acts)
    lazy = significance(acts.lazy())
    assert held.evidence.equals(lazy.evidence)
    assert held.edges.equals(lazy.edges)
    assert held.groups.equals(lazy.groups)
    assert held.evidence.height > 0


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["co_link", "co_share"]),
            st.sampled_from(["k1", "k2", "k3", "k4", "k5"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from([0, 1, 59, 60, 61, 120, 121, 500]),  # 60 s: ties at the window
        ),
        min_size=1,
        max_size=40,
    ),
    part_rows=st.integers(1, 12),
)
def test_units_do_not_depend_on_the_key_partitions(
    rows: list[tuple[str, str, str, int]], part_rows: int
) -> None:
    from coordscope.stats.units import code_units

    acts = _acts([(s, k, a, float(t)) for s, k, a, t in rows])
    signals = sorted(set(acts["signal"]))
    win = dict.fromkeys(signals, 60.0)
    whole = code_units(acts, signals, win, seed=1)
    parted = code_units(acts.lazy(), signals, win, seed=1, part_rows=part_rows)
    # held whole (read at once, accounts coded by row), from a frame and from a scan
    held = code_units(acts, signals, win, seed=1, part_rows=part_rows, hold_rows=10**6)
    lazy_held = code_units(acts.lazy(), signals, win, seed=1, part_rows=part_rows, hold_rows=99)
    # coded where the partitions are (a runner other than this process; Spark runs the
    # same task), the accounts' totals summed by the runner
    remote = code_units(
        acts.lazy(), signals, win, seed=1, part_rows=part_rows, runner=_Elsewhere(), work=WorkDir()
    )
    for other in (held, lazy_held, remote):
        assert other.coded.equals(whole.coded)
        assert other.table.equals(whole.table)
        assert other.actor_codes.equals(whole.actor_codes)
        assert other.incidence.shared.equals(whole.incidence.shared)
        assert np.array_equal(other.pi, whole.pi)
        assert np.array_equal(other.incidence.activity, whole.incidence.activity)
    assert parted.coded.equals(whole.coded)
    assert parted.table.equals(whole.table)
    assert parted.actor_codes.equals(whole.actor_codes)
    for name in ("pi", "saturated", "crowded"):
        assert np.array_equal(getattr(parted, name), getattr(whole, name)), name
    for other in (parted, remote):
        assert other.incidence.shared.equals(whole.incidence.shared)
        for name in ("activity", "n_units_of", "per_signal"):
            assert np.array_equal(getattr(other.incidence, name), getattr(whole.incidence, name))
        for name in ("pi", "saturated", "crowded", "key_sig", "key_half", "w_signal"):
            assert np.array_equal(getattr(other, name), getattr(whole, name)), name
    # a unit is a maximal run of one key's actions with gaps <= 60 s, in (key, time) order
    table = whole.table.with_row_index("k").with_columns(pl.col("k").cast(pl.Int64))
    coded = whole.coded.join(table.select("k", "kid"), on="k")
    by_unit = coded.group_by("k").agg(pl.col("t").sort().diff().max(), pl.col("kid").n_unique())
    assert (by_unit["t"].fill_null(0) <= 60_000_000).all()
    assert (by_unit["kid"] == 1).all()
    assert whole.table["kid"].n_unique() == acts.select("signal", "key").n_unique()
    # the incidence, brute force: units as runs of (signal, key) with gaps <= 60 s (none
    # is saturated: four accounts), named by the row of their first action in time
    brute = acts.with_row_index("row").sort(["signal", "key", "ts", "row"])
    gap = pl.col("ts").diff().dt.total_microseconds().fill_null(0) > 60_000_000
    new = (pl.col("signal") != pl.col("signal").shift()) | (pl.col("key") != pl.col("key").shift())
    brute = brute.with_columns(run=(new.fill_null(True) | gap).cum_sum())
    brute = brute.with_columns(pl.col("row").first().over("run").cast(pl.Int64).alias("row0"))
    per = brute.group_by("row0", "actor_id", "signal").agg(pl.len().alias("m"))
    n_acc = per.group_by("row0").agg(pl.len().alias("n_acc"))
    shared = per.join(n_acc.filter(pl.col("n_acc") >= 2), on="row0", how="semi")
    inc = whole.incidence
    got = (
        inc.shared.join(table.select("k", "row0"), on="k")
        .join(whole.actor_codes.select("a", "actor_id"), on="a")
        .select("row0", "actor_id", pl.col("m").cast(pl.UInt32))
    )
    assert sorted(got.rows()) == sorted(shared.select("row0", "actor_id", "m").rows())
    ids = whole.actor_codes["actor_id"].to_list()
    by_actor = dict(acts.group_by("actor_id").agg(pl.len()).rows())
    assert inc.activity.tolist() == [float(by_actor[i]) for i in ids]
    units_of = dict(per.group_by("actor_id").agg(pl.len()).rows())
    assert inc.n_units_of.tolist() == [units_of[i] for i in ids]
    by_signal = dict(acts.group_by("signal").agg(pl.len()).rows())
    assert inc.per_signal.tolist() == [by_signal[s] for s in signals]


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_significance_does_not_depend_on_the_chunks_handed_to_the_engine(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from coordscope.budget import MIN_MEMORY, Budget
    from coordscope.datasets.simulate import simulate
    from coordscope.signals.actions import actions
    from coordscope.stats import evidence

    events, _ = simulate("mixed", seed=5, size="tiny")
    acts = actions(events, signals=["co_share", "co_hashtag", "co_link", "co_text"])
    whole = significance(acts)
    # chunks of `chunk` actions (cut at unit starts), each handed to the engine on its own
    monkeypatch.setattr(evidence, "_MIN_CHUNK", chunk)
    parted = significance(acts, budget=Budget(memory=MIN_MEMORY, workers=2, task=1))
    assert parted.edges.equals(whole.edges)
    assert parted.evidence.equals(whole.evidence)
    assert parted.groups.equals(whole.groups)
    assert whole.counts["significant_edges"] > 0


def test_unit_chunks_cut_at_unit_starts() -> None:
    from coordscope.stats.evidence import _unit_chunks

    k = np.array([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])
    # marks at 3, 6, 9 fall on unit starts 3 and 6, and inside unit 3 (moved back to 6)
    assert _unit_chunks(k, 3) == [(0, 3), (3, 6), (6, 10)]
    # marks at 2, 4, 6, 8: inside unit 0 (back to 0), at 4 and 6, inside unit 3 (back to 6)
    assert _unit_chunks(k, 2) == [(0, 4), (4, 6), (6, 10)]
    assert _unit_chunks(k, 100) == [(0, 10)]
    assert _unit_chunks(k[:0], 4) == []


def test_keys_without_synchrony_add_nothing_to_the_model() -> None:
    # 6 keys, three with π = 0 (one account's): the model answers exactly as without them
    n_key = np.array([5.0, 40.0, 3.0, 900.0, 12.0, 2.0])
    pi = np.array([0.0, 0.3, 0.0, 0.0, 0.05, 0.9])
    half = np.array([1, 3, 2, 3, 1, 2], dtype=np.int8)
    n_actor = np.array([10.0, 300.0, 50.0])
    total = float(n_key.sum())
    full = null.fit_model(n_actor, n_key, pi, half, total=total)
    live = pi > 0
    sub = null.fit_model(n_actor, n_key[live], pi[live], half[live], total=total)
    c = np.array([0.0, 1e-6, 0.01, 1.0, 50.0])
    big_x = np.array([0.0, 0.01, 0.5, 3.0])
    size = np.array([3.0, 4.0, 5.0, 40.0])
    for table in (0, 1, 2):
        assert full.tables[table][0].shape == sub.tables[table][0].shape  # zeros left out
        assert np.array_equal(null.capped_sum(full, c, table), null.capped_sum(sub, c, table))
        assert np.array_equal(
            null.group_unit_bound(full, big_x, size, table),
            null.group_unit_bound(sub, big_x, size, table),
        )
    # by hand, table 2 (all keys), c = 1: Σ min(1, y²π), y = n/√N, N = 962
    y = n_key / np.sqrt(total)
    assert null.capped_sum(full, np.array([1.0]), 2)[0] == pytest.approx(
        float(np.minimum(1.0, y * y * pi).sum())
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30)), max_size=80),
    st.integers(0, 10),
    st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_open_pair_count_matches_brute_force(
    rows: list[tuple[int, int]], window: int, counted: list[bool]
) -> None:
    from coordscope.stats.evidence import _pairs_of

    rows = sorted(rows)
    k = np.array([r[0] for r in rows], dtype=np.int64)
    t = np.array([r[1] for r in rows], dtype=np.int64)
    expected = sum(
        1
        for i, j in itertools.combinations(range(len(rows)), 2)
        if k[i] == k[j] and t[j] - t[i] <= window and counted[k[i]]
    )
    assert _pairs_of(k, t, window, np.array(counted)) == expected
