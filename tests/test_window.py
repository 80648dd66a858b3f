"""CooRnet's coordination-interval estimate on a hand-worked fixture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from coordscope.errors import ParameterError
from coordscope.signals.window import estimate_window

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _actions(shares: dict[str, list[float]]) -> pl.DataFrame:
    rows = [(k, T0 + timedelta(seconds=s)) for k, secs in shares.items() for s in secs]
    return pl.DataFrame(
        rows, schema={"key": pl.String, "ts": pl.Datetime("us", "UTC")}, orient="row"
    )


# Hand-worked: second-share delays are u1 2, u2 4, u3 10, u4 30, u5 100 (u6 has one share).
# q = 0.4 → type-7 quantile of [2, 4, 10, 30, 100] at 0.4: h = 4*0.4 = 1.6 → 4 + 0.6*6 = 7.6
# → quick keys u1, u2. p = 0.5: first share with rank/count > 0.5:
#   u1 (4 shares at 0, 2, 3, 50): ranks 3/4 → 3 s;  u2 (3 shares at 0, 4, 9): 2/3 → 4 s.
# median of [3, 4] = 3.5 s.
SHARES = {
    "u1": [0, 2, 3, 50],
    "u2": [9, 0, 4],  # unsorted on purpose
    "u3": [0, 10],
    "u4": [0, 30, 31],
    "u5": [0, 100],
    "u6": [5],
}


def test_hand_worked_interval() -> None:
    est = estimate_window(_actions(SHARES), q=0.4, p=0.5)
    assert est.keys_shared_twice == 5
    assert est.rank2_cutoff == pytest.approx(7.6)
    assert est.quick_keys == 2
    assert est.window == pytest.approx(3.5)
    assert est.summary["min"] == 3 and est.summary["max"] == 4


def test_zero_becomes_one_second() -> None:
    est = estimate_window(_actions({"a": [0, 0, 0], "b": [0, 0]}), q=0.5, p=0.5)
    assert est.window == 1.0


def test_bad_parameters_and_no_data() -> None:
    with pytest.raises(ParameterError, match="p must be between 0 and 1"):
        estimate_window(_actions(SHARES), p=1.5)
    with pytest.raises(ParameterError, match="q must be between 0 and 1"):
        estimate_window(_actions(SHARES), q=-0.1)
    with pytest.raises(ParameterError, match="shared at least twice"):
        estimate_window(_actions({"a": [0], "b": [1]}))
