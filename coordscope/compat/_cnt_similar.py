"""The toolkit's ``co_similar_tweet`` network: token-set Jaccard within the window.

Two non-repost messages match when they are within ``W`` seconds of each other (either
side, inclusive, in floating-point seconds) and the Jaccard index of their token sets is
at least the threshold. The toolkit compares every pair of messages inside the window in
Python; here the pairs are found exactly by prefix filtering
(:func:`coordscope.signals.similar.jaccard_pairs`: candidates from a band join on the
rarest tokens, each checked with float64 division as Python divides). Then ``A → B``
counts the distinct messages of ``A`` with a match by ``B``, as for the same-key
networks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.schema import ACTOR_ID, US
from coordscope.signals.similar import jaccard_pairs, subset_sets, token_sets

__all__ = ["similar_edges"]


def similar_edges(
    messages: pl.DataFrame,
    user_enum: pl.Enum,
    *,
    window: float,
    threshold: float,
    min_tokens: int,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], pl.Series]:
    """Count, for each account pair, the messages of one with a similar message of the other.

    Parameters
    ----------
    messages : polars.DataFrame
        :func:`coordscope.compat.cnt.cnt_messages` for ``co_similar_tweet`` (``key`` is
        the text as exported).
    user_enum : polars.Enum
        The sorted account ids of the messages (an account's code is its rank).
    window : float
        ``W`` in seconds, ``>= 0``.
    threshold : float
        Jaccard threshold in ``(0, 1]`` (inclusive).
    min_tokens : int
        Messages with fewer distinct tokens match nothing (empty messages never match).

    Returns
    -------
    user_1, user_2 : numpy.ndarray
        Account codes (the enum's physical type), sorted by ``(user_1, user_2)``.
    weight : polars.Series of UInt32
        Distinct messages of ``user_1`` with a match by ``user_2``, at least 1.

    Notes
    -----
    Cost that of :func:`~coordscope.signals.similar.jaccard_pairs` (tokenising, then
    about ``O(n log n + C)`` for ``C`` candidate pairs), plus ``O(M log M)`` for the
    ``M`` matches.
    """
    sets = token_sets(messages["key"], tokenizer="toolkit")
    keep = np.flatnonzero(sets.sizes >= max(1, min_tokens))
    physical = pl.Series([], dtype=user_enum).to_physical().dtype
    if keep.shape[0] < 2:
        empty = pl.Series([], dtype=physical).to_numpy()
        return empty, empty, pl.Series("weight", [], dtype=pl.UInt32)
    t = messages["t"].to_numpy()[keep]
    band = math.ceil(window * US) + 2  # a superset; the float test below decides
    i, j, _ = jaccard_pairs(subset_sets(sets, keep), threshold=threshold, ts=t, window=band)
    ti = t[i] / US
    tj = t[j] / US
    x = (ti - window <= tj) & (tj <= ti + window)  # e_1 = i matched by e_2 = j
    y = (tj - window <= ti) & (ti <= tj + window)  # e_1 = j matched by e_2 = i
    user = messages[ACTOR_ID].cast(user_enum).to_physical().to_numpy()[keep]
    src = np.concatenate((i[x], j[y]))
    dst = np.concatenate((user[j[x]], user[i[y]]))
    matched = pl.DataFrame({"msg": src, "u1": user[src], "u2": dst}).unique(["msg", "u2"])
    counts = (
        matched.group_by("u1", "u2").agg(pl.len().cast(pl.UInt32).alias("weight")).sort("u1", "u2")
    )
    return counts["u1"].to_numpy(), counts["u2"].to_numpy(), counts["weight"]
