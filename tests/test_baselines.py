"""The literature baselines of benchmarks/quality.py on hand-checkable examples."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from benchmarks.baselines import (
    collaboration_weights,
    cosine_pairs,
    iannucci2025,
    keep_top,
    multiplex_louvain,
    multiplex_modularity,
    pacheco2021,
    retweet_incidence,
    tfidf_matrix,
)
from coordscope.schema import EVENT_SCHEMA
from tests.conftest import expected_event, utc

T0 = utc(2024, 3, 1, 12)

#: Four accounts and the posts they retweeted: A and B the same two, C one of them and
#: one of its own, D nothing in common with anyone.
RETWEETS = {"A": ["x", "y"], "B": ["x", "y"], "C": ["x", "z"], "D": ["w"]}


def _incidence(features: dict[str, list[str]]) -> pl.DataFrame:
    rows = [(a, f) for a, fs in features.items() for f in fs]
    return (
        pl.DataFrame(rows, schema=["actor_id", "feature"], orient="row")
        .group_by("actor_id", "feature")
        .agg(pl.len().cast(pl.Int64).alias("count"))
    )


def _score(pairs: pl.DataFrame, a: str, b: str) -> float:
    row = pairs.filter((pl.col("actor_a") == a) & (pl.col("actor_b") == b))
    assert row.height == 1, (a, b, pairs)
    return float(row["score"][0])


def test_tfidf_cosine_by_hand() -> None:
    # n = 4 accounts; df(x) = 3, df(y) = 2; idf = ln((1 + n) / (1 + df)) + 1; tf = 1
    idf_x, idf_y, idf_z = math.log(5 / 4) + 1, math.log(5 / 3) + 1, math.log(5 / 2) + 1
    a_norm = math.hypot(idf_x, idf_y)
    c_norm = math.hypot(idf_x, idf_z)
    x, ids = tfidf_matrix(_incidence(RETWEETS), min_df=1)
    pairs = cosine_pairs(x, ids)
    assert ids.to_list() == ["A", "B", "C", "D"]
    assert _score(pairs, "A", "B") == pytest.approx(1.0)  # identical retweets
    # A·C share only x: idf_x² / (|A| |C|) = 1.4961 / (1.9439 · 2.2734) ≈ 0.3385
    assert _score(pairs, "A", "C") == pytest.approx(idf_x**2 / (a_norm * c_norm))
    assert _score(pairs, "A", "C") == pytest.approx(0.33854, abs=1e-5)
    assert _score(pairs, "B", "C") == pytest.approx(_score(pairs, "A", "C"))
    assert pairs.height == 3  # D shares nothing: no pair


def test_tfidf_matches_scikit_learn_sublinear() -> None:
    # the authors' vectoriser: sublinear tf, smoothed idf, l2 rows; counts above 1 too
    features = {**RETWEETS, "A": ["x", "x", "x", "y"], "C": ["x", "z", "z"]}
    x, ids = tfidf_matrix(_incidence(features), min_df=1)
    docs = [features[a] for a in ids.to_list()]
    ref = TfidfVectorizer(
        analyzer=lambda d: d, sublinear_tf=True, lowercase=False, min_df=1
    ).fit_transform(docs)
    ours = pairs_matrix(cosine_pairs(x, ids), ids.to_list())
    theirs = np.triu((ref @ ref.T).toarray(), k=1)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def pairs_matrix(pairs: pl.DataFrame, ids: list[str]) -> np.ndarray:
    pos = {a: i for i, a in enumerate(ids)}
    out = np.zeros((len(ids), len(ids)))
    for a, b, s in pairs.iter_rows():
        out[pos[a], pos[b]] = s
    return out


def test_min_df_drops_rare_features_and_falls_back_when_none_is_left() -> None:
    # min_df = 3: only x (3 accounts) is kept, so A, B and C become identical
    x, ids = tfidf_matrix(_incidence(RETWEETS), min_df=3)
    pairs = cosine_pairs(x, ids)
    assert x.shape == (4, 1)
    assert _score(pairs, "A", "C") == pytest.approx(1.0)
    # no feature reaches min_df: every feature is kept (min_df = 1)
    x, _ = tfidf_matrix(_incidence(RETWEETS), min_df=10)
    assert x.shape == (4, 4)


def test_keep_top_keeps_the_pairs_at_the_quantile() -> None:
    pairs = cosine_pairs(*tfidf_matrix(_incidence(RETWEETS), min_df=1))
    # scores 0.3385, 0.3385, 1.0: the 0.995 quantile (linear) is 0.3385 + 0.99 · 0.6615
    kept = keep_top(pairs, 0.005)
    assert kept.select("actor_a", "actor_b").rows() == [("A", "B")]
    assert keep_top(pairs, 1.0).height == 3


def _event(i: int, actor: str, seconds: float, **values: object) -> dict[str, object]:
    return expected_event(
        event_id=f"e{i}",
        platform="twitter",
        actor_id=actor,
        ts=T0 + timedelta(seconds=seconds),
        **values,
    )


def test_pacheco_co_retweet_support_filter_and_self_retweets() -> None:
    # P1 and P2 retweet the same ten posts a minute apart; P3 retweets nine of them
    # (below the support of 10); P4 retweets the ten posts and its own post (excluded)
    rows = [_event(i, "author", 100_000 * i, kind="post") for i in range(10)]
    n = len(rows)
    for who, posts, lag in (("P1", 10, 0), ("P2", 10, 60), ("P3", 9, 30), ("P4", 10, 90)):
        for p in range(posts):
            rows.append(_event(n, who, 100_000 * p + 5_000 + lag, kind="repost", object_id=f"e{p}"))
            n += 1
    rows.append(_event(n, "P4", 5, kind="post"))
    rows.append(_event(n + 1, "P4", 6, kind="repost", object_id=f"e{n}"))
    events = pl.DataFrame(rows, schema=EVENT_SCHEMA)
    incidence = retweet_incidence(events)
    assert incidence.filter(pl.col("actor_id") == "P4")["count"].sum() == 10  # own post out
    found = pacheco2021(events)
    assert found.parts["co_retweet"] == {"pairs": 3, "kept": 3}  # P1, P2, P4; P3 filtered
    assert found.parts["co_activity"]["pairs"] > 0  # the 30-min bins: the same accounts
    assert found.flagged.to_list() == ["P1", "P2", "P4"]
    assert found.labels["actor_id"].to_list() == ["P1", "P2", "P4"]
    assert found.labels["cluster"].n_unique() == 1


def _acts(rows: list[tuple[str, str, float]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    acts = pl.DataFrame(
        {
            "key": [r[0] for r in rows],
            "actor_id": [r[1] for r in rows],
            "ts": [T0 + timedelta(seconds=r[2]) for r in rows],
        }
    )
    ids = acts["actor_id"].unique().sort()
    codes = pl.DataFrame({"actor_id": ids, "code": pl.int_range(ids.len(), eager=True)})
    return acts, codes


def test_collaboration_weights_by_hand() -> None:
    # key k: a at 0 s (twice), b at 60 s, c at 600 s → n_k = 3, each pair weighs 1/2
    acts, codes = _acts([("k", "a", 0), ("k", "a", 0), ("k", "b", 60), ("k", "c", 600)])
    w = collaboration_weights(acts, codes, betas=[1.0, 0.1], epsilon=0.01)
    got = {(a, b): (w0, w1) for a, b, w0, w1 in w.iter_rows()}
    # β = 1/min: cutoff ln(100) ≈ 4.6 min; only a–b (1 min): 2 actions of a · ½ e^{-1}
    # β = 0.1/min: cutoff 46 min; a–b 2 · ½ e^{-0.1}, a–c 2 · ½ e^{-1}, b–c ½ e^{-0.9}
    assert got[(0, 1)] == pytest.approx((math.exp(-1), math.exp(-0.1)))
    assert got[(0, 2)] == pytest.approx((0.0, math.exp(-1)))
    assert got[(1, 2)] == pytest.approx((0.0, 0.5 * math.exp(-0.9)))
    assert len(got) == 3  # no a–a pair


def _layer(edges: list[tuple[int, int, float]], n: int = 4) -> sp.csr_matrix:
    a, b, w = (np.array(c) for c in zip(*edges, strict=True))
    return sp.csr_matrix(
        (np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
    )


def test_multiplex_modularity_and_partition_on_two_layers() -> None:
    # layer 1: 0–1 and 2–3; layer 2: the path 0–1–2–3
    one = _layer([(0, 1, 1.0), (2, 3, 1.0)])
    two = _layer([(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0)])
    split = np.array([0, 0, 1, 1])
    # Q1 = 4/4 − (½² + ½²) = 1/2; Q2 = 4/6 − (½² + ½²) = 1/6
    assert multiplex_modularity([one], split) == pytest.approx(0.5)
    assert multiplex_modularity([two], split) == pytest.approx(1 / 6)
    assert multiplex_modularity([one, two], split) == pytest.approx(2 / 3)
    assert multiplex_modularity([one, two], np.zeros(4, dtype=np.int64)) == pytest.approx(0.0)
    assert multiplex_louvain([one, two]).tolist() == [0, 0, 1, 1]


def test_multiplex_pools_evidence_a_single_layer_lacks() -> None:
    # accounts 0, 1, 2 co-act weakly in each of three layers, never twice in one; a
    # crowd 3..8 fills every layer. Each layer alone ties the trio to the crowd; pooled,
    # the trio is one community.
    crowd = [(i, j, 1.0) for i in range(3, 9) for j in range(i + 1, 9)]
    layers = [
        _layer([(0, 1, 1.0), (0, 3, 0.2), *crowd], n=9),
        _layer([(1, 2, 1.0), (1, 4, 0.2), *crowd], n=9),
        _layer([(0, 2, 1.0), (2, 5, 0.2), *crowd], n=9),
    ]
    labels = multiplex_louvain(layers)
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] != labels[0]


def test_iannucci_end_to_end_on_a_small_campaign() -> None:
    # a campaign of four accounts retweets eight posts within seconds; twenty organic
    # accounts retweet the same posts hours apart
    rows = [_event(i, "author", 10_000 * i, kind="post") for i in range(8)]
    n = len(rows)
    for p in range(8):
        for m in range(4):
            rows.append(_event(n, f"bot{m}", 10_000 * p + 10 + m, kind="repost", object_id=f"e{p}"))
            n += 1
        for o in range(20):
            t = 10_000 * p + 3_600 * (1 + o % 3) + 200 * o
            rows.append(_event(n, f"org{o}", t, kind="repost", object_id=f"e{p}"))
            n += 1
    events = pl.DataFrame(rows, schema=EVENT_SCHEMA)
    found = iannucci2025(events)
    top = found.ranked.sort("score", descending=True).head(6)
    assert set(top["actor_a"].to_list() + top["actor_b"].to_list()) == {f"bot{m}" for m in range(4)}
    assert found.parts["layers"]["co_share"]["beta_per_min"] is not None
    bots = found.labels.filter(pl.col("actor_id").str.starts_with("bot"))
    assert bots["cluster"].n_unique() == 1
