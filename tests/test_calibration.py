"""Calibration of the significance stage (tested on data without coordination, not assumed).

On data without coordination — simulated organic scenarios with the hard negatives
(flash-viral cascades, scheduler bots, homophilous communities) and real data whose
account timelines are shifted by independent random offsets — pair p-values must be
uniform or conservative and no edge or group may be reported.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from coordscope.datasets.ingest import read_events
from coordscope.datasets.simulate import simulate
from coordscope.signals.actions import actions
from coordscope.stats.significance import significance
from tests.conftest import REFERENCE, requires_reference

SIGNALS = ("co_share", "co_link", "co_hashtag", "co_text")
#: Allowed excess over 1 % of pair p-values below 0.01 (sampling error of a few thousand
#: dependent pairs).
TOLERANCE = 0.005


def _check_null(acts: pl.DataFrame, *, window: float = 60.0, min_edges: int = 100) -> None:
    res = significance(acts, window=window, seed=0)
    p = res.edges["pvalue"].to_numpy()
    assert p.shape[0] > min_edges  # the data did produce co-actions to test
    assert (p < 0.01).mean() <= 0.01 + TOLERANCE
    assert (p < 0.001).mean() <= 0.001 + TOLERANCE
    # every discovery would be false here: FDR <= alpha needs (almost always) none
    assert res.counts["significant_edges"] == 0
    assert res.counts["significant_groups"] == 0


@pytest.mark.parametrize("scenario", ["organic", "scheduler_bots", "homophily"])
@pytest.mark.parametrize("seed", [0, 1])
def test_null_scenarios_are_calibrated(scenario: str, seed: int) -> None:
    events, truth = simulate(scenario, seed=seed, size="small")
    assert not truth["coordinated"].any()
    _check_null(pl.concat([actions(events, signals=s) for s in SIGNALS]))


@pytest.mark.slow
def test_flash_viral_is_calibrated() -> None:
    events, _ = simulate("flash_viral", seed=2, size=8_000)
    _check_null(pl.concat([actions(events, signals=s) for s in SIGNALS]))


@pytest.mark.reference
@pytest.mark.slow
@requires_reference
def test_real_data_with_shifted_timelines() -> None:
    """russian_coord_tweets with each account shifted by its own random offset (0–6 hours):
    shares stay shares, any coordination in time is destroyed."""
    events = read_events(REFERENCE / "coortweet" / "russian_coord_tweets.csv.gz")
    # the coortweet reader gives every row kind "repost" of its object_id
    acts = actions(events, signals="co_share")
    assert acts.height == events.height
    ids = acts["actor_id"].unique().sort()
    rng = np.random.default_rng(0)
    offset = pl.DataFrame({"actor_id": ids, "off": rng.integers(0, 6 * 3_600_000_000, ids.len())})
    shifted = (
        acts.join(offset, on="actor_id", how="left", maintain_order="left")
        .with_columns((pl.col("ts") + pl.duration(microseconds=pl.col("off"))).alias("ts"))
        .drop("off")
    )
    # the same data unshifted is known to be coordinated: the test has power
    assert significance(acts, window=10).counts["significant_edges"] > 0
    _check_null(shifted, window=10, min_edges=30)
