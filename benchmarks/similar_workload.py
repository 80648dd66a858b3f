"""Seeded workloads for the ``co_similar`` and ``co_media`` signals (issue 6).

``make_similar_events(rows, seed)``: canonical events (posts) shaped like real exports.

- Scripts: Latin 60 %, Cyrillic 15 %, Arabic 15 % (words separated by spaces) and CJK 10 %
  (Han characters written without spaces: every character is a token). Each script has
  its own vocabulary of 40,000 pseudo-words (2–9 letters; CJK: single characters from
  6,000) drawn with Zipf-like popularity (exponent 1.05), so common words are shared by
  most messages, as stop words are.
- Lengths: 5–60 words (lognormal, median 14).
- Mostly distinct messages; 3 % of rows are near-duplicate families (campaign
  copy-paste): 2–60 copies of a base message (geometric sizes, mean 8) posted by
  different accounts within 0–240 s of the first copy, each copy either unchanged (30 %),
  one word swapped (25 %), punctuation appended (15 %), an emoji appended (15 %) or one
  word dropped (15 %).
- Times uniform over 7 days (whole seconds); 200,000 accounts with lognormal activity.

``make_phashes(rows, seed)``: 64-bit perceptual hashes as 16-digit hex strings: 90 % random
images, 10 % in families of 2–40 re-encodings of one image (each within 0–6 bit flips of
the original, the noise of re-compression and resizing).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from coordscope.schema import EVENT_SCHEMA

__all__ = [
    "exact_pairs_recall",
    "make_phashes",
    "make_similar_events",
    "prepare_media",
    "prepare_similar",
    "run_media",
    "run_similar",
]

_DATA: Final = Path(__file__).resolve().parent / "data"

_T0: Final = 1_709_251_200  # 2024-03-01T00:00:00Z
_SPAN_S: Final = 7 * 86_400
_VOCAB: Final = 40_000
_SCRIPTS: Final = {  # name: (share, first code point, alphabet size, separator)
    "latin": (0.60, 0x61, 26, " "),
    "cyrillic": (0.15, 0x430, 32, " "),
    "arabic": (0.15, 0x627, 36, " "),
    "cjk": (0.10, 0x4E00, 6000, ""),
}
_PUNCT: Final = np.array(["!", "!!", "?", ".", "...", " !"])
_EMOJIS: Final = np.array(["😀", "🔥", "👍", "🇩🇪", "❤️", "😡", "🙏", "👉", "✅", "📢"])


def _vocab(rng: np.random.Generator, first: int, size: int, cjk: bool) -> np.ndarray:
    if cjk:
        return np.array([chr(first + k) for k in range(size)])
    length = rng.integers(2, 10, _VOCAB)
    letters = rng.integers(0, size, (_VOCAB, 9))
    alphabet = np.array([chr(first + c) for c in range(size)])
    words = np.array(
        ["".join(alphabet[row[:n]]) for row, n in zip(letters, length, strict=True)]
    )  # a fixed-size vocabulary: 40,000 words whatever the number of rows
    return np.unique(words)


def _zipf(rng: np.random.Generator, vocab: int, shape: tuple[int, int]) -> np.ndarray:
    weights = 1.0 / (np.arange(vocab) + 2.7) ** 1.05
    cdf = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cdf, rng.random(shape)), vocab - 1)


def make_similar_events(rows: int, seed: int) -> pl.DataFrame:
    """Canonical events (``kind = post``) of the ``co_similar_1m`` workload.

    Returns the events and, in ``x_family``, the family number of each copy (null for the
    distinct messages).
    """
    rng = np.random.default_rng(seed)
    n_family_rows = int(rows * 0.03)
    sizes = np.minimum(2 + rng.geometric(1 / 7, size=n_family_rows), 60)
    sizes = sizes[np.cumsum(sizes) <= n_family_rows]
    n_fam = sizes.shape[0]
    n_base = rows - int(sizes.sum()) + n_fam  # distinct messages, family bases included
    length = np.clip(np.rint(rng.lognormal(np.log(14), 0.6, n_base)), 5, 60).astype(np.int64)
    script_names = list(_SCRIPTS)
    shares = np.array([v[0] for v in _SCRIPTS.values()])
    script = rng.choice(len(script_names), size=n_base, p=shares)
    words = np.empty((n_base, 60), dtype=np.int64)  # indices into one joint vocabulary
    vocabs = []
    offset = 0
    for k, name in enumerate(script_names):
        _, first, size, _ = _SCRIPTS[name]
        vocab = _vocab(rng, first, size, name == "cjk")
        which = np.flatnonzero(script == k)
        words[which] = offset + _zipf(rng, vocab.shape[0], (which.shape[0], 60))
        vocabs.append(vocab)
        offset += vocab.shape[0]
    vocabulary = pl.Series(np.concatenate(vocabs).astype(str))
    # family copies: rows n_base.. are copies of the first n_fam bases
    fam = np.repeat(np.arange(n_fam), sizes - 1)
    k = fam.shape[0]
    copy_words = words[fam].copy()
    copy_len = length[fam].copy()
    edit = np.searchsorted(np.array([0.30, 0.55, 0.70, 0.85, 1.0]), rng.random(k), side="right")
    swap = np.flatnonzero(edit == 1)
    pos = (rng.random(swap.shape[0]) * copy_len[swap]).astype(np.int64)
    copy_words[swap, pos] = words[rng.integers(0, n_base, swap.shape[0]), pos]
    drop = np.flatnonzero(edit == 4)
    dpos = (rng.random(drop.shape[0]) * copy_len[drop]).astype(np.int64)
    copy_words[drop, dpos] = copy_words[drop, copy_len[drop] - 1]
    copy_len[drop] -= 1
    suffix = np.where(
        edit == 2,
        _PUNCT[rng.integers(0, _PUNCT.shape[0], k)],
        np.where(edit == 3, np.char.add(" ", _EMOJIS[rng.integers(0, 10, k)]), ""),
    )
    all_words = np.concatenate((words, copy_words))
    all_len = np.concatenate((length, copy_len))
    cjk = np.concatenate((script, script[fam])) == script_names.index("cjk")
    mask = np.arange(60)[None, :] < all_len[:, None]
    row, _ = np.nonzero(mask)
    flat = pl.DataFrame({"row": row, "w": vocabulary.gather(all_words[mask])})
    joined = flat.group_by("row", maintain_order=True).agg(pl.col("w").str.join(" "))
    text = pl.DataFrame({"t": joined["w"], "cjk": cjk}).select(
        pl.when(pl.col("cjk")).then(pl.col("t").str.replace_all(" ", "")).otherwise("t")
    ).to_series() + pl.Series(np.concatenate((np.full(n_base, ""), suffix)))
    base_ts = rng.integers(0, _SPAN_S, n_base)
    ts = np.concatenate((base_ts, base_ts[fam] + rng.integers(0, 241, k)))
    n_accounts = 200_000
    weights = rng.lognormal(0, 1.2, n_accounts)
    actor = rng.choice(n_accounts, size=rows, p=weights / weights.sum())
    family = np.concatenate((np.where(np.arange(n_base) < n_fam, np.arange(n_base), -1), fam))
    order = rng.permutation(rows)
    events = pl.DataFrame(
        {
            "event_id": pl.Series(np.arange(rows)).cast(pl.String),
            "platform": pl.repeat("twitter", rows, eager=True),
            "actor_id": pl.Series(actor[order]).cast(pl.String),
            "actor_name": pl.Series([None] * rows, dtype=pl.String),
            "ts": pl.Series((_T0 + ts[order]) * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "kind": pl.repeat("post", rows, eager=True),
            "object_id": pl.Series([None] * rows, dtype=pl.String),
            "text": text.gather(order),
            "urls": pl.Series([[]] * rows, dtype=pl.List(pl.String)),
            "hashtags": pl.Series([[]] * rows, dtype=pl.List(pl.String)),
            "mentions": pl.Series([[]] * rows, dtype=pl.List(pl.String)),
            "media": pl.Series([[]] * rows, dtype=pl.List(pl.String)),
            "channel": pl.Series([None] * rows, dtype=pl.String),
            "actor_created": pl.Series([None] * rows, dtype=pl.Datetime("us", "UTC")),
        }
    )
    events = events.cast(pl.Schema(EVENT_SCHEMA))
    fam_col = pl.Series("x_family", family[order]).cast(pl.Int64)
    return events.with_columns(pl.when(fam_col >= 0).then(fam_col).alias("x_family"))


def make_phashes(rows: int, seed: int) -> np.ndarray:
    """``rows`` 64-bit hashes (uint64) of the ``co_media_1m`` workload (module docstring)."""
    rng = np.random.default_rng(seed)
    n_fam_rows = int(rows * 0.10)
    sizes = np.minimum(2 + rng.geometric(1 / 6, size=n_fam_rows), 40)
    sizes = sizes[np.cumsum(sizes) <= n_fam_rows]
    originals = np.asarray(rng.integers(0, 2**63, size=sizes.shape[0], dtype=np.uint64) * 2)
    fam = np.repeat(np.arange(sizes.shape[0]), sizes)
    flips = rng.integers(0, 7, fam.shape[0])
    noise = np.zeros(fam.shape[0], dtype=np.uint64)
    for slot in range(6):  # up to 6 random bits (a loop over bit slots, not rows)
        bit = rng.integers(0, 64, fam.shape[0]).astype(np.uint64)
        noise ^= np.where(flips > slot, np.uint64(1) << bit, np.uint64(0))
    copies = originals[fam] ^ noise
    rest = rng.integers(0, 2**63, size=rows - copies.shape[0], dtype=np.uint64) * np.uint64(
        2
    ) + rng.integers(0, 2, size=rows - copies.shape[0], dtype=np.uint64)
    out = np.concatenate((copies, rest))
    return out[rng.permutation(rows)]


def exact_pairs_recall(groups: pl.Series, i: np.ndarray, j: np.ndarray) -> tuple[float, int]:
    """Share of the exact pairs ``(i, j)`` that land in one near-duplicate group."""
    g = groups.to_numpy(allow_copy=True)
    gi = np.asarray(groups.gather(pl.Series(i, dtype=pl.UInt32)).is_not_null().to_numpy())
    same = gi & (g[i] == g[j])
    return (float(same.mean()) if i.shape[0] else 1.0), int(i.shape[0])


def prepare_similar(rows: int = 1_000_000) -> Path:
    """The cached events of ``co_similar_1m`` (``benchmarks/data``, not tracked)."""
    path = _DATA / f"similar_events_{rows}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(".tmp-" + path.name)
        make_similar_events(rows, seed=1).write_parquet(tmp)
        tmp.rename(path)
    return path


def run_similar(path: Path) -> dict[str, Any]:
    """``co_similar`` from events in memory to native edges (W = 60 s, Jaccard >= 0.8).

    ``core_seconds``: near-duplicate groups (MinHash + LSH + exact check + components) →
    actions → native pair edges. Recall: every pair of messages within 60 s whose word
    sets have Jaccard >= 0.8 (the exact path, prefix filtering over all the messages,
    not a sample; outside the timed part) that the groups put together.
    """
    from coordscope.engine.native import native_pairs
    from coordscope.signals.similar import jaccard_pairs, near_duplicate_groups, token_sets

    events = pl.read_parquet(path)
    start = time.perf_counter()
    groups = near_duplicate_groups(events["text"], threshold=0.8)
    from coordscope.signals.exact import actions_from_keys

    keys = pl.DataFrame(
        {"event": pl.int_range(events.height, dtype=pl.UInt32, eager=True), "key": groups}
    ).filter(pl.col("key").is_not_null())
    acts = actions_from_keys(events, keys.cast({"key": pl.String}), signal="co_similar")
    result = native_pairs(acts, window=60, evidence=False)
    core = time.perf_counter() - start
    sets = token_sets(events["text"])
    big = np.flatnonzero(sets.sizes >= 5)
    from coordscope.signals.similar import subset_sets

    ts = events["ts"].dt.epoch("s").to_numpy()[big]
    i, j, _ = jaccard_pairs(subset_sets(sets, big), threshold=0.8, ts=ts, window=60)
    recall, n_pairs = exact_pairs_recall(groups, big[i], big[j])
    family = events["x_family"]
    grouped = groups.is_not_null()
    return {
        "rows": events.height,
        "core_seconds": round(core, 4),
        "core": "groups + actions + native edges, events in memory (file read excluded)",
        "exact_pairs_in_window": n_pairs,
        "recall_exact_pairs": round(recall, 5),
        "grouped_messages": int(grouped.sum()),
        "groups": int(groups.drop_nulls().n_unique()),
        "grouped_outside_planted_families": int((grouped & family.is_null()).sum()),
        "actions": acts.height,
        "edges": result.edges.height,
    }


def prepare_media(rows: int = 1_000_000) -> Path:
    """The cached events of ``co_media_1m``: one hex pHash per event."""
    path = _DATA / f"media_events_{rows}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        hashes = make_phashes(rows, seed=1)
        from coordscope.signals.media import _hex

        hexed = _hex(pl.Series(hashes)).str.strip_prefix("phash:")
        rng = np.random.default_rng(2)
        events = pl.DataFrame(
            {
                "event_id": pl.Series(np.arange(rows)).cast(pl.String),
                "platform": pl.repeat("twitter", rows, eager=True),
                "actor_id": pl.Series(rng.integers(0, 200_000, rows)).cast(pl.String),
                "actor_name": pl.Series([None] * rows, dtype=pl.String),
                "ts": pl.Series((_T0 + rng.integers(0, _SPAN_S, rows)) * 1_000_000).cast(
                    pl.Datetime("us", "UTC")
                ),
                "kind": pl.repeat("post", rows, eager=True),
                "object_id": pl.Series([None] * rows, dtype=pl.String),
                "text": pl.Series([None] * rows, dtype=pl.String),
                "urls": pl.Series([[]] * rows, dtype=pl.List(pl.String)),
                "hashtags": pl.Series([[]] * rows, dtype=pl.List(pl.String)),
                "mentions": pl.Series([[]] * rows, dtype=pl.List(pl.String)),
                "media": hexed.to_frame("m").select(pl.concat_list("m")).to_series(),
                "channel": pl.Series([None] * rows, dtype=pl.String),
                "actor_created": pl.Series([None] * rows, dtype=pl.Datetime("us", "UTC")),
            }
        ).cast(pl.Schema(EVENT_SCHEMA))
        tmp = path.with_name(".tmp-" + path.name)
        events.write_parquet(tmp)
        tmp.rename(path)
    return path


def run_media(path: Path) -> dict[str, Any]:
    """``co_media`` actions from 1M hex pHashes (parse, group at d = 6, key).

    Exactness check outside the timed part: 200 sampled hashes against all the others by
    popcount; every pair within 6 bits must share a key.
    """
    from coordscope.signals.media import media_actions, parse_phash

    events = pl.read_parquet(path)
    start = time.perf_counter()
    acts = media_actions(events, distance=6)
    core = time.perf_counter() - start
    x = parse_phash(events["media"].list.first()).to_numpy().astype(np.uint64)
    key = acts.sort("event")["key"].to_numpy()
    rng = np.random.default_rng(3)
    sample = rng.choice(x.shape[0], 200, replace=False)
    missed = 0
    found = 0
    for s in sample:  # a loop over 200 sampled hashes, each against all (vectorized)
        near = np.flatnonzero(np.bitwise_count(x ^ x[s]) <= 6)
        found += near.shape[0] - 1
        missed += int((key[near] != key[s]).sum())
    return {
        "rows": events.height,
        "core_seconds": round(core, 4),
        "core": "media_actions on events in memory (file read excluded)",
        "keys": int(acts["key"].n_unique()),
        "sampled_pairs_within_6_bits": found,
        "sampled_pairs_missed": missed,
    }
