"""Recycled images (``co_media``, issue 6): exact media ids and perceptual-hash groups.

Hand-worked hashes at and around the distance limit; a brute-force reference (every
pair, popcount, union-find) compared by hypothesis; the block plan; the signal through
``actions``; the German elections data's anonymised ``phash_id`` as exact keys.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordscope.errors import ParameterError
from coordscope.schema import EVENT_SCHEMA
from coordscope.signals import media as media_module
from coordscope.signals.actions import actions
from coordscope.signals.media import media_actions, media_groups, parse_phash, phash_groups
from tests.conftest import REFERENCE, requires_reference

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def events_with_media(media: list[list[str]]) -> pl.DataFrame:
    n = len(media)
    return pl.DataFrame(
        {
            "event_id": [f"e{k}" for k in range(n)],
            "platform": ["twitter"] * n,
            "actor_id": [f"a{k}" for k in range(n)],
            "actor_name": [None] * n,
            "ts": [T0 + timedelta(seconds=5 * k) for k in range(n)],
            "kind": ["post"] * n,
            "object_id": [None] * n,
            "text": [None] * n,
            "urls": [[] for _ in range(n)],
            "hashtags": [[] for _ in range(n)],
            "mentions": [[] for _ in range(n)],
            "media": media,
            "channel": [None] * n,
            "actor_created": [None] * n,
        },
        schema=EVENT_SCHEMA,
    )


def brute_groups(x: list[int], d: int) -> list[int]:
    """Smallest hash of each hash's component, every pair compared."""
    parent = list(range(len(x)))

    def find(a: int) -> int:
        while parent[a] != a:
            a = parent[a]
        return a

    for i, j in itertools.combinations(range(len(x)), 2):
        if bin(x[i] ^ x[j]).count("1") <= d:
            parent[find(j)] = find(i)
    smallest: dict[int, int] = {}
    for k in range(len(x)):
        r = find(k)
        smallest[r] = min(smallest.get(r, x[k]), x[k])
    return [smallest[find(k)] for k in range(len(x))]


def test_parse_phash() -> None:
    items = ["ffffffffffffffff", "0x0000000000000001", "00000000000000FF", "123",
             "fffffffffffffffff", "zzzzzzzzzzzzzzzz", None]  # fmt: skip
    got = parse_phash(pl.Series(items))
    assert got.to_list() == [2**64 - 1, 1, 255, None, None, None, None]


def test_distance_limit_is_inclusive() -> None:
    base = 0xF0F0_F0F0_0000_0000
    six = base ^ 0b111111  # 6 bits away
    seven = base ^ (0b1111111 << 8)  # 7 bits away from base, 13 from six
    far = ~base & (2**64 - 1)
    got = phash_groups(np.array([six, base, seven, far], dtype=np.uint64), distance=6)
    assert got.tolist() == [base, base, seven, far]
    assert phash_groups(np.array([base, seven], dtype=np.uint64), distance=7).tolist() == [
        base,
        base,
    ]
    # chains join: 0 - 6 bits - a - 6 bits - b (12 bits from 0)
    a = 0b111111
    b = 0b111111 << 6 | a
    assert phash_groups(np.array([b, a, 0], dtype=np.uint64), distance=6).tolist() == [0, 0, 0]
    assert phash_groups(np.array([5, 5, 9], dtype=np.uint64), distance=0).tolist() == [5, 5, 9]


def test_block_plan() -> None:
    # m blocks, k = m - d of them must be equal (pigeonhole); m = d + 1 for small inputs
    # cost C(m, k)·(n + n²/2^(64k/m + 1)): n = 1e3: (7, 1) 1.3e4 < (8, 2) 2.8e4 < …;
    # n = 1e6: (9, 3) 1.0e8 < (10, 4) 2.1e8 < (8, 2) 2.4e8 < (7, 1) 6.2e9
    assert media_module._plan(1_000, 6) == (7, 1)
    assert media_module._plan(1_000_000, 6) == (9, 3)
    m, k = media_module._plan(50, 0)
    assert m - k == 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seeds=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=6),
    flips=st.lists(st.lists(st.integers(0, 63), max_size=9), max_size=40),
    d=st.integers(0, 10),
)
def test_groups_equal_brute_force(seeds: list[int], flips: list[list[int]], d: int) -> None:
    x = list(seeds)
    for k, bits in enumerate(flips):  # near copies of the seeds, at 0-9 bits
        v = seeds[k % len(seeds)]
        for b in bits:
            v ^= 1 << b
        x.append(v)
    got = phash_groups(np.array(x, dtype=np.uint64), distance=d)
    assert got.tolist() == brute_groups(x, d)


def test_many_random_hashes_find_only_planted_neighbours() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**63, size=20_000, dtype=np.uint64) * np.uint64(2)
    near = x[:100] ^ np.uint64(0b1011)  # 3 bits away
    got = phash_groups(np.concatenate((x, near)), distance=6)
    assert np.array_equal(got[20_000:], np.minimum(x[:100], near))
    # each near copy joins its original; random 63-bit hashes are never within 6 bits
    assert np.unique(got).shape[0] == x.shape[0]


def test_media_groups_and_actions() -> None:
    ev = events_with_media(
        [
            ["photo_1", "c3d4e5f6a7b8c9d0"],
            ["photo_1"],
            ["0xC3D4E5F6A7B8C9D1"],  # 1 bit from the first hash
            ["c3d4e5f6a7b8c9d0", "c3d4e5f6a7b8c9d1"],  # both in one group: one action
            [],
            ["PHOTO_1"],  # exact ids are case-sensitive
        ]
    )
    groups = media_groups(ev)
    assert groups.rows() == [
        (0, "photo_1"),
        (0, "phash:c3d4e5f6a7b8c9d0"),
        (1, "photo_1"),
        (2, "phash:c3d4e5f6a7b8c9d0"),
        (3, "phash:c3d4e5f6a7b8c9d0"),
        (5, "PHOTO_1"),
    ]
    acts = actions(ev, signals="co_media")
    assert acts.equals(media_actions(ev))
    assert acts["event"].to_list() == [0, 0, 1, 2, 3, 5]  # one per row of groups above
    exact = actions(ev, signals="co_media", media_distance=0)
    # at distance 0 event 3's two hashes (1 bit apart) are two keys: two actions
    assert exact.filter(pl.col("event") == 3).height == 2


def test_parameters_are_checked() -> None:
    with pytest.raises(ParameterError, match="distance"):
        phash_groups(np.zeros(2, dtype=np.uint64), distance=-1)
    with pytest.raises(ParameterError, match="distance"):
        media_groups(events_with_media([["a"]]), distance=40)


@requires_reference
@pytest.mark.slow
def test_german_elections_phash_ids_are_exact_keys() -> None:
    from coordscope import read_events

    events = read_events(REFERENCE / "coortweet" / "german_elections.csv.gz")
    acts = actions(events, signals="co_media")
    raw = pl.read_csv(REFERENCE / "coortweet" / "german_elections.csv.gz",
                      infer_schema_length=0)  # fmt: skip
    with_phash = raw.filter(pl.col("phash_id").is_not_null() & (pl.col("phash_id") != ""))
    # every (post, phash id) of the file is one action, keyed by the id itself
    expected = with_phash.select(
        pl.col("post_id").alias("event_id"), pl.col("phash_id").alias("key")
    )
    got = acts.select("event_id", "key")
    assert got.unique().sort("event_id", "key").equals(expected.unique().sort("event_id", "key"))
    assert acts.height == expected.unique().height  # no repeats: 16,934 (post, phash id)
