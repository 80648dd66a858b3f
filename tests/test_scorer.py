"""The learned cluster scorer: fit on simulated truth, save/load, bad files."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from coordscope.datasets.simulate import simulate
from coordscope.errors import InputError, ParameterError
from coordscope.metrics.scorer import FEATURES, SCORER_VERSION, Scorer, fit_scorer, load_scorer
from coordscope.outputs import AuditResult
from coordscope.parts import PartedTable
from coordscope.schema import CLUSTER_SCHEMA
from tests.conftest import shuffle_joins, utc

T0 = utc(2024, 3, 1)


def synthetic_clusters(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clusters over the accounts of a simulated data set, and its truth.

    Every planted campaign gives a cluster of its members with strong evidence; organic
    accounts give clusters of 2–6 members with weak evidence. Evidence is noisy so that
    the two overlap a little (a calibrated model must not be certain).
    """
    _, truth = simulate("mixed", seed=seed, size="tiny")
    rng = np.random.default_rng(seed)
    campaigns = (
        truth.filter(pl.col("campaign").is_not_null())
        .group_by("campaign", maintain_order=True)
        .agg(pl.col("actor_id"))["actor_id"]
        .to_list()
    )
    organic = truth.filter(pl.col("campaign").is_null())["actor_id"].to_list()
    groups: list[list[str]] = [list(c) for c in campaigns]
    labels = [True] * len(groups)
    at = 0
    while at < len(organic) and len(groups) < 40:
        n = int(rng.integers(2, 7))
        groups.append(organic[at : at + n])
        labels.append(False)
        at += n
    y = np.array(labels)
    n = len(groups)
    strong = np.where(y, 1.0, 0.0) + rng.normal(0, 0.6, n)  # latent evidence
    size = np.array([len(g) for g in groups])
    pvalue = np.clip(10.0 ** (-np.exp(1.5 + 1.5 * strong)), 1e-300, 1.0)
    rows: dict[str, Any] = {
        "cluster": np.arange(1, n + 1),
        "campaign": [None] * n,
        "members": groups,
        "size": size,
        "n_edges": size,
        "density": np.clip(0.3 + 0.4 * strong, 0, 1),
        "n_keys": np.maximum(1, np.round(3 + 6 * strong)).astype(int),
        "top_keys": [[] for _ in range(n)],
        "signals": [["co_share"] for _ in range(n)],
        "median_dt": np.clip(60.0 - 40.0 * strong, 0.5, None),
        "first_ts": [T0] * n,
        "last_ts": [T0 + timedelta(hours=float(h)) for h in rng.uniform(1, 48, n)],
        "statistic": 5.0 + 20.0 * np.clip(strong, 0, None),
        "expected": np.full(n, 3.0),
        "pvalue": pvalue,
        "qvalue": np.clip(pvalue * n, 0, 1),
        "significant": pvalue * n <= 0.05,
        "score": np.zeros(n),
        "mean_strength": 2.0 + 5.0 * np.clip(strong, 0, None),
        "mean_degree": np.maximum(1.0, size / 2),
        "coordinated_share": np.clip(0.2 + 0.5 * strong, 0, 1),
        "domain_gini": [None] * n,
        "top_domains": [[] for _ in range(n)],
    }
    return pl.DataFrame(rows).cast(dict(CLUSTER_SCHEMA)), truth  # type: ignore[arg-type]


def result_of(clusters: pl.DataFrame) -> AuditResult:
    empty = pl.DataFrame()
    return AuditResult(
        events=empty,
        coaction_parts=PartedTable.of(empty),
        edge_parts=PartedTable.of(empty),
        nodes=empty,
        clusters=clusters,
        bursts=empty,
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[Scorer, pl.DataFrame, pl.DataFrame]:
    train = [synthetic_clusters(s) for s in (1, 2, 3)]
    scorer = fit_scorer([result_of(c) for c, _ in train], [t for _, t in train], seed=0)
    test_clusters, test_truth = synthetic_clusters(9)
    return scorer, test_clusters, test_truth


def labels_of(clusters: pl.DataFrame, truth: pl.DataFrame) -> np.ndarray:
    coordinated = set(truth.filter(pl.col("coordinated"))["actor_id"].to_list())
    return np.array([sum(m in coordinated for m in ms) * 2 > len(ms) for ms in clusters["members"]])


def test_fit_separates_campaigns_from_organic_groups(
    fitted: tuple[Scorer, pl.DataFrame, pl.DataFrame],
) -> None:
    scorer, clusters, truth = fitted
    p = scorer.score(clusters).to_numpy()
    y = labels_of(clusters, truth)
    assert y.any() and (~y).any()
    assert ((p >= 0) & (p <= 1)).all()
    assert p[y].mean() > 0.6
    assert p[~y].mean() < 0.4
    # calibrated, not a 0/1 step: the noisy evidence leaves some clusters uncertain
    assert ((p > 0.02) & (p < 0.98)).any()
    # the ranking is mostly right: AUC above 0.85
    auc = (p[y][:, None] > p[~y][None, :]).mean()
    assert auc > 0.85
    assert scorer.info["clusters"] > 0
    assert scorer.describe()["features"] == list(FEATURES)


def test_save_load_round_trip(
    tmp_path: Path, fitted: tuple[Scorer, pl.DataFrame, pl.DataFrame]
) -> None:
    scorer, clusters, _ = fitted
    path = scorer.save(tmp_path / "scorer.json")
    data = json.loads(path.read_text())
    assert data["format"] == "coordscope-scorer"
    assert data["version"] == SCORER_VERSION
    back = load_scorer(path)
    assert back == scorer
    assert back.score(clusters).equals(scorer.score(clusters))
    assert back.score(clusters.head(0)).len() == 0


def test_fit_is_deterministic() -> None:
    train = [synthetic_clusters(s) for s in (4, 5)]
    results = [result_of(c) for c, _ in train]
    truths = [t for _, t in train]
    assert fit_scorer(results, truths, seed=3) == fit_scorer(results, truths, seed=3)


def test_fit_does_not_depend_on_the_order_joins_return_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the folds are drawn over the rows: the labelled clusters must keep their order
    train = [synthetic_clusters(s) for s in (4, 5)]
    results = [result_of(c) for c, _ in train]
    truths = [t for _, t in train]
    plain = fit_scorer(results, truths, seed=3)
    shuffle_joins(monkeypatch, seed=2)
    assert fit_scorer(results, truths, seed=3) == plain


def test_fit_from_directories(tmp_path: Path) -> None:
    clusters, truth = synthetic_clusters(6)
    clusters.write_parquet(tmp_path / "clusters.parquet")
    truth.write_parquet(tmp_path / "truth.parquet")
    from_files = fit_scorer([tmp_path], [tmp_path / "truth.parquet"])
    assert from_files == fit_scorer([result_of(clusters)], [truth])


def test_fit_errors() -> None:
    clusters, truth = synthetic_clusters(7)
    with pytest.raises(ParameterError, match="1 result"):
        fit_scorer([result_of(clusters)], [truth, truth])
    with pytest.raises(ParameterError, match="at least one"):
        fit_scorer([], [])
    organic = clusters.filter(pl.col("members").list.len() < 7).tail(3)
    with pytest.raises(ParameterError, match="both"):
        fit_scorer([result_of(organic)], [truth])
    with pytest.raises(ParameterError, match="seed"):
        fit_scorer([result_of(clusters)], [truth], seed=-1)


@pytest.mark.parametrize(
    ("content", "word"),
    [
        ("not json {", "invalid JSON"),
        ("[1, 2]", "format"),
        ('{"format": "coordscope-scorer", "version": 99}', "version"),
        ('{"format": "coordscope-scorer", "version": 1, "features": ["rm -rf"]}', "features"),
    ],
)
def test_bad_files(tmp_path: Path, content: str, word: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=word):
        load_scorer(path)


def test_bad_fields(tmp_path: Path, fitted: tuple[Scorer, pl.DataFrame, pl.DataFrame]) -> None:
    good = fitted[0].to_dict()
    for field, value in (
        ("coef", [1.0]),
        ("scale", [0.0] * len(FEATURES)),
        ("mean", ["x"] * len(FEATURES)),
        ("intercept", float("nan")),
        ("platt", None),
    ):
        path = tmp_path / f"bad_{field}.json"
        path.write_text(json.dumps({**good, field: value}))
        with pytest.raises(InputError):
            load_scorer(path)
    with pytest.raises(InputError, match="not found"):
        load_scorer(tmp_path / "missing.json")


@pytest.mark.slow
def test_fit_on_an_audit_of_simulated_campaigns() -> None:
    """End to end: audit the mixed scenario, fit on its clusters, score them.

    The audit of simulated data rarely finds organic clusters (that is its job), so
    organic examples come from :func:`synthetic_clusters` when the audit has none.
    """
    from coordscope.pipeline import audit

    events, truth = simulate("mixed", seed=0, size="small")
    result = audit(events, signals=["co_share", "co_link", "co_hashtag", "co_text"])
    y = labels_of(result.clusters, truth)
    assert y.any(), "the audit found no campaign cluster"
    extra, extra_truth = synthetic_clusters(11)
    extra = extra.filter(~pl.Series(labels_of(extra, extra_truth)))
    scorer = fit_scorer([result, result_of(extra)], [truth, extra_truth])
    p = scorer.score(result.clusters).to_numpy()
    q = scorer.score(extra).to_numpy()
    assert p[y].mean() > 0.5 > q.mean()
    if (~y).any():
        assert p[y].mean() > p[~y].mean()
