"""Multiple testing: Benjamini–Hochberg q-values and Simes' combination.

Both are vectorized (a sort, then cumulative or grouped operations); neither loops over
p-values.

References
----------
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a practical
and powerful approach to multiple testing. *J. R. Stat. Soc. B* 57(1), 289–300.

Simes, R. J. (1986). An improved Bonferroni procedure for multiple tests of significance.
*Biometrika* 73(3), 751–754.

Sarkar, S. K. (1998). Some probability inequalities for ordered MTP2 random variables: a
proof of the Simes conjecture. *Ann. Statist.* 26(2), 494–504.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["benjamini_hochberg", "simes"]

FloatArray = npt.NDArray[np.float64]


def benjamini_hochberg(pvalues: FloatArray, *, m: int | None = None) -> FloatArray:
    """Compute Benjamini–Hochberg (1995) q-values.

    ``q_(i) = min_{j >= i} m·p_(j) / j`` over the p-values sorted increasingly, clipped
    to 1.

    Parameters
    ----------
    pvalues : ndarray of float64
        The p-values, any order.
    m : int, optional
        The number of hypotheses (default: the number of p-values). Hypotheses not given
        are taken to have ``p = 1``; a value below the number of p-values is raised to it.

    Returns
    -------
    ndarray of float64
        The q-value of each p-value, in the input order (``significant = q <= alpha``
        controls the false discovery rate at ``alpha``).

    Notes
    -----
    Cost ``O(n log n)`` (one stable sort).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    n = p.shape[0]
    total = n if m is None else max(m, n)
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * total / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def simes(frame: pl.DataFrame, *, by: str, p: str = "p") -> pl.DataFrame:
    """Combine the p-values of each group by Simes' method.

    The combined p-value of a group of ``S`` p-values is ``min_i S·p_(i) / i`` over its
    p-values sorted increasingly, clipped to ``[0, 1]``.

    Parameters
    ----------
    frame : polars.DataFrame
        One row per p-value, with the columns ``by`` and ``p``.
    by : str
        The column naming the group.
    p : str, default "p"
        The column of p-values.

    Returns
    -------
    polars.DataFrame
        ``by`` and ``p``: one row per group, in the order of ``by``.

    Notes
    -----
    Valid under independence and positive regression dependence (Simes 1986; Sarkar
    1998). Cost ``O(n log n)`` (a sort and a group-by).
    """
    ranked = frame.sort([by, p]).with_columns(
        pl.int_range(1, pl.len() + 1).over(by).alias("_i"),
        pl.len().over(by).alias("_s"),
    )
    return ranked.group_by(by, maintain_order=True).agg(
        (pl.col(p) * pl.col("_s") / pl.col("_i")).min().clip(0.0, 1.0).alias(p)
    )
