"""A learned cluster scorer for teams with labelled takedowns.

:func:`fit_scorer` learns, from audit outputs and their truth tables, the probability
that a cluster is a coordinated campaign; :meth:`Scorer.score` applies it and
``coordscope audit --scorer FILE`` uses it in place of the formula of
:func:`coordscope.graphs.scores.cluster_score`.

**Model.** A logistic regression (scikit-learn, L2, standardised features) on
cluster-level features of :data:`coordscope.results.CLUSTER_SCHEMA` (:data:`FEATURES`),
calibrated by Platt scaling (Platt 1999): a one-dimensional logistic fit of the labels
on *out-of-fold* decision values (5-fold stratified cross-validation), so the
probabilities are not over-confident on the training clusters. The final regression is
refitted on every cluster.

**Labels.** A cluster is a positive example when more than half of its members are
coordinated in the truth table (members of any campaign).

**File format.** JSON with ``format: "coordscope-scorer"``, ``version``, the feature
names, the scaler's ``mean`` and ``scale``, ``coef``, ``intercept`` and the Platt
``a, b``: loading never executes code (unlike pickle), and :func:`load_scorer` checks
every field, raising :class:`~coordscope.errors.InputError` on a bad file.

Cost: ``O(c·f)`` to score ``c`` clusters with ``f`` features; fitting is scikit-learn's
L-BFGS, linear in the clusters per iteration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope._output import write_json
from coordscope.errors import InputError, ParameterError, check_seed
from coordscope.metrics.evaluate import load_truth
from coordscope.results import AuditTables

__all__ = ["FEATURES", "SCORER_FORMAT", "SCORER_VERSION", "Scorer", "fit_scorer", "load_scorer"]

SCORER_FORMAT: Final = "coordscope-scorer"
SCORER_VERSION: Final = 1

#: Feature name → polars expression over a cluster table (nulls become neutral values).
_FEATURE_EXPRS: Final[dict[str, pl.Expr]] = {
    "log_size": pl.col("size").cast(pl.Float64).fill_null(1.0).clip(1.0).log(),
    "density": pl.col("density").cast(pl.Float64).fill_null(0.0).fill_nan(0.0),
    "log_n_keys": pl.col("n_keys").cast(pl.Float64).fill_null(0.0).clip(0.0).log1p(),
    "log_median_dt": pl.col("median_dt").cast(pl.Float64).clip(0.0).log1p().fill_null(8.0),
    "neg_log10_p": (-pl.col("pvalue").cast(pl.Float64).clip(1e-300, 1.0).log10())
    .fill_null(0.0)
    .fill_nan(0.0),
    "neg_log10_q": (-pl.col("qvalue").cast(pl.Float64).clip(1e-300, 1.0).log10())
    .fill_null(0.0)
    .fill_nan(0.0),
    "log_excess": (
        (pl.col("statistic").cast(pl.Float64) + 1.0).log()
        - (pl.col("expected").cast(pl.Float64).clip(0.0) + 1.0).log()
    )
    .fill_null(0.0)
    .fill_nan(0.0),
    "significant": pl.col("significant").cast(pl.Float64).fill_null(0.0),
    "n_signals": pl.col("signals").list.len().cast(pl.Float64).fill_null(0.0),
    "log_mean_strength": pl.col("mean_strength").cast(pl.Float64).fill_null(0.0).clip(0.0).log1p(),
    "mean_degree_share": (
        pl.col("mean_degree").cast(pl.Float64) / (pl.col("size").cast(pl.Float64) - 1.0).clip(1.0)
    )
    .fill_null(0.0)
    .fill_nan(0.0),
    "coordinated_share": pl.col("coordinated_share").cast(pl.Float64).fill_null(0.0).fill_nan(0.0),
    "log_span_h": (
        (pl.col("last_ts") - pl.col("first_ts")).dt.total_seconds(fractional=True) / 3600.0
    )
    .clip(0.0)
    .log1p()
    .fill_null(0.0),
}
#: The features the scorer uses, in model order.
FEATURES: Final = tuple(_FEATURE_EXPRS)
_NEEDED: Final = (
    "size", "density", "n_keys", "median_dt", "pvalue", "qvalue", "statistic", "expected",
    "significant", "signals", "mean_strength", "mean_degree", "coordinated_share",
    "first_ts", "last_ts",
)  # fmt: skip
_FOLDS: Final = 5


@dataclass
class Scorer:
    """A fitted cluster scorer: standardised logistic regression + Platt calibration.

    ``p = 1 / (1 + exp(−(a·z + b)))`` with ``z = ((x − mean) / scale)·coef + intercept``.
    """

    features: tuple[str, ...]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    a: float
    b: float
    info: dict[str, Any] = field(default_factory=dict)

    def decision(self, clusters: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Return the regression's decision values ``z`` (log-odds before calibration)."""
        x = _features(clusters, self.features)
        mean = np.asarray(self.mean)
        scale = np.asarray(self.scale)
        return np.asarray(((x - mean) / scale) @ np.asarray(self.coef) + self.intercept)

    def score(self, clusters: pl.DataFrame) -> pl.Series:
        """Calibrated probability that each cluster is a coordinated campaign.

        Parameters
        ----------
        clusters : polars.DataFrame
            :data:`coordscope.results.CLUSTER_SCHEMA` rows.

        Returns
        -------
        polars.Series
            Float64 ``score`` in ``[0, 1]``, in row order. Cost ``O(c·f)``.
        """
        if clusters.height == 0:
            return pl.Series("score", [], dtype=pl.Float64)
        z = self.decision(clusters)
        return pl.Series("score", _sigmoid(self.a * z + self.b), dtype=pl.Float64)

    def describe(self) -> dict[str, Any]:
        """Describe the scorer in short, JSON-ready form (for ``summary.json``)."""
        return {
            "format": SCORER_FORMAT,
            "version": SCORER_VERSION,
            "model": "logistic regression + Platt calibration",
            "features": list(self.features),
            **{k: v for k, v in self.info.items() if k in ("clusters", "positives", "seed")},
        }

    def to_dict(self) -> dict[str, Any]:
        """Every fitted parameter, JSON-ready."""
        return {
            "format": SCORER_FORMAT,
            "version": SCORER_VERSION,
            "features": list(self.features),
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": self.intercept,
            "platt": {"a": self.a, "b": self.b},
            "info": self.info,
        }

    def save(self, path: str | Path) -> Path:
        """Write the scorer as JSON (atomically). Returns the path."""
        return write_json(self.to_dict(), Path(path))


def fit_scorer(
    results: Sequence[AuditTables | str | Path],
    truths: Sequence[pl.DataFrame | str | Path],
    *,
    seed: int = 0,
) -> Scorer:
    """Learn a calibrated cluster scorer from audits and their ground truth.

    Parameters
    ----------
    results : sequence of AuditTables or path
        Audit results or audit output directories (their ``clusters.parquet``).
    truths : sequence of polars.DataFrame or path
        One truth table per result (:func:`coordscope.metrics.evaluate.load_truth`).
    seed : int, default 0
        Seed of the cross-validation folds (the fit is otherwise deterministic).

    Returns
    -------
    Scorer

    Raises
    ------
    ParameterError
        Different numbers of results and truths, a negative seed, or training clusters
        of only one class (both campaigns and organic clusters are needed).
    InputError
        An unreadable result or truth.

    Notes
    -----
    Features: :data:`FEATURES`. Labels: more than half of the members coordinated.
    Calibration: Platt scaling on 5-fold out-of-fold decision values (fewer folds when
    a class has fewer than 5 clusters; none with fewer than 2 — then ``a = 1, b = 0``).
    """
    # scikit-learn takes ~0.6 s to import: deferred so that `import coordscope`, the CLI
    # and a saved scorer's use (`score`, which is numpy only) start without it
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    if isinstance(results, str | Path | AuditTables) or isinstance(truths, str | Path):
        raise ParameterError("results and truths must be sequences (one truth per result)")
    if len(results) != len(truths):
        raise ParameterError(f"got {len(results)} result(s) but {len(truths)} truth table(s)")
    if not results:
        raise ParameterError("give at least one audit result to fit a scorer")
    check_seed(seed)
    frames = [_labelled(r, t) for r, t in zip(results, truths, strict=True)]
    table = pl.concat(frames, how="vertical_relaxed")
    y = table["_y"].to_numpy().astype(np.int64)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ParameterError(
            f"the training clusters are all {'coordinated' if n_neg == 0 else 'organic'}"
            f" ({y.size} cluster(s)): a scorer needs examples of both"
        )
    x = _features(table, FEATURES)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    xs = (x - mean) / scale

    def model() -> LogisticRegression:
        return LogisticRegression(C=1.0, max_iter=1000)

    folds = min(_FOLDS, n_pos, n_neg)
    if folds >= 2:
        oof = np.empty(y.size)
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for train, test in split.split(xs, y):  # a loop over folds
            oof[test] = model().fit(xs[train], y[train]).decision_function(xs[test])
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof.reshape(-1, 1), y)
        a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    else:
        a, b = 1.0, 0.0
    final = model().fit(xs, y)
    return Scorer(
        features=FEATURES,
        mean=[float(v) for v in mean],
        scale=[float(v) for v in scale],
        coef=[float(v) for v in final.coef_[0]],
        intercept=float(final.intercept_[0]),
        a=a,
        b=b,
        info={"clusters": int(y.size), "positives": n_pos, "seed": seed, "folds": folds},
    )


def load_scorer(path: str | Path) -> Scorer:
    """Read a scorer written by :meth:`Scorer.save`.

    Raises
    ------
    InputError
        Missing, unreadable or malformed file, another format or version, or fields of
        the wrong length or type.
    """
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(where, "scorer file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(where, f"not a scorer file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != SCORER_FORMAT:
        raise InputError(where, f"not a scorer file (no format '{SCORER_FORMAT}')")
    if data.get("version") != SCORER_VERSION:
        raise InputError(
            where,
            f"scorer version {data.get('version')!r} is not supported (expected {SCORER_VERSION})",
        )
    features = data.get("features")
    if (
        not isinstance(features, list)
        or not features
        or any(f not in _FEATURE_EXPRS for f in features)
    ):
        raise InputError(where, "unknown or missing features", field="features")
    n = len(features)
    vectors = {}
    for name in ("mean", "scale", "coef"):
        vectors[name] = _numbers(data.get(name), n, where, name)
    if any(v <= 0 for v in vectors["scale"]):
        raise InputError(where, "scale must be positive", field="scale")
    platt = data.get("platt")
    if not isinstance(platt, dict):
        raise InputError(where, "missing Platt calibration", field="platt")
    intercept = _numbers([data.get("intercept")], 1, where, "intercept")[0]
    a = _numbers([platt.get("a")], 1, where, "platt.a")[0]
    b = _numbers([platt.get("b")], 1, where, "platt.b")[0]
    info = data.get("info")
    return Scorer(
        features=tuple(features),
        mean=vectors["mean"],
        scale=vectors["scale"],
        coef=vectors["coef"],
        intercept=intercept,
        a=a,
        b=b,
        info=info if isinstance(info, dict) else {},
    )


# ----------------------------------------------------------------------------- helpers


def _numbers(value: Any, n: int, where: str, name: str) -> list[float]:
    ok = (
        isinstance(value, list)
        and len(value) == n
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    )
    if not ok:
        raise InputError(where, f"expected {n} finite number(s)", field=name)
    return [float(v) for v in value]


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def _features(clusters: pl.DataFrame, names: Sequence[str]) -> npt.NDArray[np.float64]:
    missing = [c for c in _NEEDED if c not in clusters.columns]
    if missing:
        raise ParameterError(f"the cluster table lacks column(s) {', '.join(missing)}")
    x = clusters.select([_FEATURE_EXPRS[n].alias(n) for n in names]).to_numpy()
    return np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def _clusters_of(result: AuditTables | str | Path) -> pl.DataFrame:
    if isinstance(result, AuditTables):
        return result.clusters
    path = Path(result)
    if path.is_dir():
        path = path / "clusters.parquet"
    if not path.is_file():
        raise InputError(str(path), "clusters.parquet not found")
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(str(path), f"cannot read clusters: {exc}") from None


def _labelled(result: AuditTables | str | Path, truth: pl.DataFrame | str | Path) -> pl.DataFrame:
    """Cluster rows with ``_y`` = more than half of the members coordinated."""
    clusters = _clusters_of(result)
    truth_frame = load_truth(truth)
    if clusters.height == 0:
        return clusters.with_columns(pl.lit(False).alias("_y"))
    coord = truth_frame.select(pl.col("actor_id").alias("_m"), "coordinated")
    share = (
        clusters.select(pl.int_range(pl.len()).alias("_row"), pl.col("members").alias("_m"))
        .explode("_m")
        .join(coord, on="_m", how="left")
        .group_by("_row")
        .agg(pl.col("coordinated").fill_null(False).mean().alias("_share"))
    )
    # in the clusters' order: the seeded folds of the fit are drawn over the rows
    return (
        clusters.with_columns(pl.int_range(pl.len()).alias("_row"))
        .join(share, on="_row", how="left", maintain_order="left")
        .with_columns((pl.col("_share").fill_null(0.0) > 0.5).alias("_y"))
        .drop("_row", "_share")
    )
