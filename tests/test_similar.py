"""Near-duplicate text (``co_similar``, issue 6).

Hand-worked token sets and Jaccard indices; a brute-force reference (every pair, Python
sets) for the exact path and for the groups, compared by hypothesis; MinHash recall on
planted paraphrases against the exact path; awkward messages (empty, one token, emoji
only, mixed scripts, very long); the signal through ``actions`` and ``detect``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordscope.compat import detect_cnt
from coordscope.errors import ParameterError
from coordscope.pipeline import detect
from coordscope.schema import EVENT_SCHEMA
from coordscope.signals import similar as similar_module
from coordscope.signals.actions import actions
from coordscope.signals.media import phash_groups
from coordscope.signals.similar import (
    DEFAULT_BANDS,
    DEFAULT_ROWS,
    _band_keys,
    _band_runs,
    _verify_buckets,
    jaccard_pairs,
    lsh_probability,
    near_duplicate_groups,
    shingles,
    similar_actions,
    similarity_text,
    token_sets,
    toolkit_tokens,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def events_of(texts: list[str | None], *, kinds: list[str] | None = None,
              seconds: list[float] | None = None, actors: list[str] | None = None,
              ) -> pl.DataFrame:  # fmt: skip
    n = len(texts)
    kinds = kinds or ["post"] * n
    seconds = seconds or [10.0 * k for k in range(n)]
    actors = actors or [f"a{k}" for k in range(n)]
    return pl.DataFrame(
        {
            "event_id": [f"e{k}" for k in range(n)],
            "platform": ["twitter"] * n,
            "actor_id": actors,
            "actor_name": [None] * n,
            "ts": [T0 + timedelta(seconds=s) for s in seconds],
            "kind": kinds,
            "object_id": ["o" if k == "repost" else None for k in kinds],
            "text": texts,
            "urls": [[] for _ in range(n)],
            "hashtags": [[] for _ in range(n)],
            "mentions": [[] for _ in range(n)],
            "media": [[] for _ in range(n)],
            "channel": [None] * n,
            "actor_created": [None] * n,
        },
        schema=EVENT_SCHEMA,
    )


def sets_as_python(texts: list[str | None], **kw: object) -> list[frozenset[int]]:
    sets = token_sets(pl.Series(texts, dtype=pl.String), **kw)  # type: ignore[arg-type]
    return [
        frozenset(sets.vocab[sets.ids[sets.indptr[m] : sets.indptr[m + 1]]].tolist())
        for m in range(len(texts))
    ]


def hashed(tokens: list[str]) -> frozenset[int]:
    return frozenset(pl.Series(tokens, dtype=pl.String).hash(0).to_list())


# --------------------------------------------------------------------------------------
# tokens and shingles, by hand


# the toolkit's token sets (checked against its ``regex``-module tokenizer)
TOOLKIT_CASES = [
    ("the cat sat on the mat", ["cat", "mat", "on", "sat", "the"]),
    ("Hello, world!! ok?", ["!", ",", "?", "hello", "ok", "world"]),
    ("don't stop", ["don't", "stop"]),
    ("'orange' is", ["is", "orange"]),
    ("3.14 and 1,000 x", ["1,000", "3.14", "and", "x"]),
    ("e.g. U.S.A.", [".", "e.g", "u.s.a"]),
    ("a_b c-d", ["-", "a_b", "c", "d"]),
    ("a1.b2", [".", "a1", "b2"]),
    ("😀😀 hi 👍🏽 👨\u200d👩\u200d👧", ["hi", "👍🏽", "👨\u200d👩\u200d👧", "😀"]),
    ("🇩🇪🇫🇷", ["🇩🇪", "🇫🇷"]),
    ("Привет, мир!", ["!", ",", "мир", "привет"]),
    ("مرحبا بالعالم", ["بالعالم", "مرحبا"]),
    ("日本語のテキストです", ["す", "で", "の", "テキスト", "日", "本", "語"]),
    ("Hi @someone! yes", ["hi", "yes"]),
    ("ab@cd ef", ["ab", "ef"]),
    ("http://x.com/a?b=1", ["/", "1", ":", "=", "?", "a", "b", "http", "x.com"]),
    ("hello\tworld\nnew", ["hello", "new", "world"]),
    ('צה"ל אמר היום', ["אמר", "היום", 'צה"ל']),  # Hebrew: a quote between letters joins
    ("ג'ירפה וש' אחרות", ["אחרות", "ג'ירפה", "וש'"]),  # and an apostrophe sticks
    ('כתב: "שלום"', ['"', ":", "כתב", "שלום"]),
]


@pytest.mark.parametrize(("text", "expected"), TOOLKIT_CASES)
def test_toolkit_tokens_by_hand(text: str, expected: list[str]) -> None:
    got = pl.select(toolkit_tokens(pl.lit(text))).to_series()[0].to_list()
    assert sorted(set(got)) == expected
    assert sets_as_python([text], tokenizer="toolkit") == [hashed(expected)]


def test_default_normalisation_and_words() -> None:
    text = "RT Ｈｅｌｌｏ  @bob World! https://t.co/x #Tag don't 日本"
    norm = pl.select(similarity_text(pl.lit(text))).item()
    assert norm == "rt hello world! #tag don't 日本"
    words = pl.select(shingles(pl.lit(norm))).to_series()[0].to_list()
    assert words == ["rt", "hello", "world", "tag", "don", "t", "日", "本"]
    # the fast path computes the same sets
    assert sets_as_python([text]) == [hashed(words)]


def test_word_and_char_ngrams() -> None:
    bigrams = pl.select(shingles(pl.lit("a b c a b"), ngram=2)).to_series()[0].to_list()
    assert bigrams == ["a b", "b c", "c a", "a b"]
    short = pl.select(shingles(pl.lit("a b"), ngram=3)).to_series()[0].to_list()
    assert short == ["a b"]
    chars = pl.select(shingles(pl.lit("abcd"), kind="char", ngram=3)).to_series()[0].to_list()
    assert chars == ["abc", "bcd"]
    # hashed n-grams: as many distinct shingles as the strings
    sizes = [len(s) for s in sets_as_python(["a b c a b", "a b", "abcd"], ngram=2)]
    assert sizes == [3, 1, 1]  # "abcd" is one word
    assert [len(s) for s in sets_as_python(["abcd", "ab"], kind="char", ngram=3)] == [2, 1]


def test_lsh_s_curve_documented_values() -> None:
    p = lsh_probability([0.8, 0.5, 0.3], bands=DEFAULT_BANDS, rows=DEFAULT_ROWS)
    assert DEFAULT_BANDS * DEFAULT_ROWS == 60
    # 12 bands of 5 rows: 1 − (1 − s⁵)¹², e.g. s = 0.8: 1 − 0.67232¹² = 0.99147
    np.testing.assert_allclose(p, [0.99147, 0.31681, 0.02877], atol=5e-5)
    s = np.array([0.8, 0.5, 0.3])
    np.testing.assert_allclose(p, 1 - (1 - s**DEFAULT_ROWS) ** DEFAULT_BANDS)
    assert lsh_probability(1.0, bands=3, rows=2) == 1.0


# --------------------------------------------------------------------------------------
# exact Jaccard pairs and groups against brute force


def brute_pairs(
    sets: list[frozenset[int]], t: float, ts: list[int] | None = None, w: int = 0
) -> set[tuple[int, int, float]]:
    out = set()
    for i, j in itertools.combinations(range(len(sets)), 2):
        a, b = sets[i], sets[j]
        if not a or not b or (ts is not None and abs(ts[i] - ts[j]) > w):
            continue
        jac = len(a & b) / len(a | b)
        if jac >= t:
            out.add((i, j, jac))
    return out


def brute_groups(sets: list[frozenset[int]], t: float, least: int) -> list[int | None]:
    parent = list(range(len(sets)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    ok = [len(s) >= least for s in sets]
    for i, j, _ in brute_pairs(sets, t):
        if ok[i] and ok[j]:
            parent[find(j)] = find(i)
    roots = [find(k) if ok[k] else None for k in range(len(sets))]
    first: dict[int, int] = {}
    count: dict[int, int] = {}
    for k, r in enumerate(roots):
        if r is not None:
            first.setdefault(r, k)
            count[r] = count.get(r, 0) + 1
    return [first[r] if r is not None and count[r] > 1 else None for r in roots]


def test_jaccard_by_hand() -> None:
    texts = [
        "the cat sat on the mat",  # {the cat sat on mat}
        "the cat sat on the mat slowly",  # 5/6 = 0.833
        "the bat sat on the mat",  # 4/6 = 0.667 with the first
        "",
    ]
    sets = token_sets(pl.Series(texts))
    i, j, jac = jaccard_pairs(sets, threshold=0.8)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1)]
    assert jac.tolist() == [5 / 6]
    i, j, jac = jaccard_pairs(sets, threshold=4 / 6)  # inclusive
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (0, 2)]
    ts = np.array([0, 61, 30, 0])
    i, _, _ = jaccard_pairs(sets, threshold=0.6, ts=ts, window=30)  # 0-2 only (|Δ| = 30)
    assert i.tolist() == [0]


WORDS = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), min_size=0, max_size=7)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(WORDS, min_size=0, max_size=25),
    t=st.sampled_from([0.3, 0.5, 2 / 3, 0.75, 0.8, 1.0]),
    window=st.integers(0, 40),
    times=st.lists(st.integers(0, 100), min_size=25, max_size=25),
)
def test_exact_pairs_equal_brute_force(
    docs: list[list[str]], t: float, window: int, times: list[int]
) -> None:
    texts = [" ".join(d) for d in docs]
    py = sets_as_python(texts)  # type: ignore[arg-type]
    sets = token_sets(pl.Series(texts, dtype=pl.String))
    i, j, jac = jaccard_pairs(sets, threshold=t, max_pairs=3)
    got = set(zip(i.tolist(), j.tolist(), jac.tolist(), strict=True))
    assert got == brute_pairs(py, t)
    ts = np.array(times[: len(texts)], dtype=np.int64)
    i, j, jac = jaccard_pairs(sets, threshold=t, ts=ts, window=window)
    assert set(zip(i.tolist(), j.tolist(), jac.tolist(), strict=True)) == brute_pairs(
        py, t, ts.tolist(), window
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(WORDS, min_size=0, max_size=30), t=st.sampled_from([0.5, 0.75, 0.8]))
def test_groups_equal_brute_force_union_find(docs: list[list[str]], t: float) -> None:
    texts = [" ".join(d) for d in docs]
    expected = brute_groups(sets_as_python(texts), t, 3)  # type: ignore[arg-type]
    for method in ("exact", "minhash"):
        got = near_duplicate_groups(
            pl.Series(texts, dtype=pl.String), threshold=t, min_shingles=3, method=method
        )
        if method == "exact":
            assert got.to_list() == expected
        else:  # MinHash finds a subset of the links; never a pair below the threshold
            pairs = {(a, b) for a, b in itertools.combinations(range(len(texts)), 2)}
            same = {(a, b) for a, b in pairs if got[a] is not None and got[a] == got[b]}
            truth = {(a, b) for a, b in pairs if expected[a] is not None
                     and expected[a] == expected[b]}  # fmt: skip
            assert same <= truth


def _components(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """Label of each of ``n`` nodes: the smallest node of its component (brute force)."""
    label = list(range(n))
    changed = True
    while changed:
        changed = False
        for a, b in pairs:
            low = min(label[a], label[b])
            if label[a] != low or label[b] != low:
                label[a] = label[b] = low
                changed = True
    return label


def _flat_sets(sets: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``indptr, ids`` of sets given as lists (ids ascending within each set)."""
    indptr = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in sets], out=indptr[1:])
    flat = [x for members in sets for x in sorted(members)]
    return indptr, np.array(flat, dtype=np.int64)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 14),
    values=st.sampled_from([1, 2, 3, 5, 9]),  # 5 and 9: equal last bits, different values
    bands=st.integers(1, 3),
    rows=st.integers(1, 3),
    least=st.integers(1, 9),
    threshold=st.sampled_from([0.5, 0.8, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_bucket_verification_equals_brute_force(
    n: int, values: int, bands: int, rows: int, least: int, threshold: float, seed: int
) -> None:
    # few distinct signature values and shingles: buckets are large, pairs agree on
    # several bands and many pass. Per band, the pairs reported are verified pairs whose
    # first agreeing band is this one, and they connect exactly the sets that all such
    # pairs connect (each joins two components: at most n - 1 of them)
    rng = np.random.default_rng(seed)
    count = bands * rows
    sig = rng.integers(0, values, (n, count)).astype(np.uint32)
    sets = [sorted(set(rng.integers(0, 6, rng.integers(1, 6)).tolist())) for _ in range(n)]
    size = np.array([len(x) for x in sets], dtype=np.int64)
    indptr, ids = _flat_sets(sets)
    least = min(least, count)

    def first_band(a: int, b: int) -> int:
        agree = [
            bool((sig[a, g * rows : (g + 1) * rows] == sig[b, g * rows : (g + 1) * rows]).all())
            for g in range(bands)
        ]
        return agree.index(True) if any(agree) else -1

    def verified(a: int, b: int) -> bool:
        inter = len(set(sets[a]) & set(sets[b]))
        return (
            min(size[a], size[b]) >= threshold * max(size[a], size[b]) - 1e-9
            and int((sig[a] == sig[b]).sum()) >= least
            and inter / (len(sets[a]) + len(sets[b]) - inter) >= threshold
        )

    for band in range(bands):
        order, starts, ends = _band_runs(_band_keys(sig, band, rows))
        lo, hi = _verify_buckets(
            order, starts, ends, sig, size, band, rows, least, threshold, indptr, ids,
            similar_module._sketches(sig), 0,
        )  # fmt: skip
        found = list(zip(lo.tolist(), hi.tolist(), strict=True))
        expected = [
            (a, b)
            for a, b in itertools.combinations(range(n), 2)
            if first_band(a, b) == band and verified(a, b)
        ]
        assert set(found) <= set(expected)
        assert len(found) == len(set(found)) <= max(0, n - 1)
        assert _components(n, found) == _components(n, expected)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 5), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_sketches_hold_the_last_two_bits_of_every_value(n: int, count: int, seed: int) -> None:
    sig = np.random.default_rng(seed).integers(0, 2**32, (n, count)).astype(np.uint32)
    sketch = similar_module._sketches(sig)
    assert sketch.shape == (n, -(-count // 32))
    for m in range(n):
        for c in range(count):
            assert (int(sketch[m, c // 32]) >> (2 * (c % 32))) & 3 == int(sig[m, c]) & 3
        for w in range(sketch.shape[1]):  # nothing past the last value
            assert int(sketch[m, w]) >> (2 * min(32, count - 32 * w)) == 0


def test_bucket_verification_by_hand() -> None:
    # two bands of two rows. Sets 0, 1, 2 agree on band 0; 1 and 2 also on band 1 (first
    # agreeing band: 0); 3 agrees with 0 on band 1 only, and on 3 of 4 values in all
    sig = np.array([[7, 7, 1, 2], [7, 7, 5, 5], [7, 7, 5, 5], [9, 7, 1, 2]], dtype=np.uint32)
    sets = [[0, 1, 2, 3, 4], [0, 1, 2, 3, 5], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8]]
    size = np.array([5, 5, 4, 9], dtype=np.int64)
    indptr, ids = _flat_sets(sets)

    def check(band: int, least: int, threshold: float) -> list[tuple[int, int]]:
        order, starts, ends = _band_runs(_band_keys(sig, band, 2))
        lo, hi = _verify_buckets(
            order, starts, ends, sig, size, band, 2, least, threshold, indptr, ids,
            similar_module._sketches(sig), 0,
        )  # fmt: skip
        return list(zip(lo.tolist(), hi.tolist(), strict=True))

    # band 0, t = 0.6: Jaccard 0-1 = 4/6, 0-2 = 4/5, 1-2 = 4/5; sizes 5/5 and 4/5 >= 0.6;
    # (0,1) and (0,2) join 0, 1 and 2; (1,2) is then skipped (connected already)
    assert check(0, 2, 0.6) == [(0, 1), (0, 2)]
    # band 1: (0,3) agrees on 3 of 4 values, but 5/9 < 0.6; (1,2) reported by band 0
    assert check(1, 2, 0.6) == []
    # at t = 0.8: 0-1 fails the exact Jaccard (4/6), 0-2 and 1-2 pass (4/5)
    assert check(0, 2, 0.8) == [(0, 2), (1, 2)]
    assert check(0, 3, 0.8) == [(1, 2)]  # 4 of 4 values agree; the others 2
    assert check(0, 2, 1.0) == []  # equal sizes: 0-1, whose Jaccard is 4/6


def paraphrases(seed: int, families: int, copies: int, noise: int) -> tuple[list[str], list[int]]:
    """Planted families: a 20-word base message and copies with one word swapped or a
    word appended (Jaccard >= 0.82 with the base), among unrelated messages."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{k}" for k in range(3000)])
    texts: list[str] = []
    family: list[int] = []
    for f in range(families):  # a loop over a test fixture's families
        base = rng.choice(vocab, 20, replace=False)
        for _ in range(copies):
            words = base.copy()
            if rng.random() < 0.5:
                words[rng.integers(0, 20)] = rng.choice(vocab)
            else:
                words = np.append(words, rng.choice(vocab))
            texts.append(" ".join(words))
            family.append(f)
    for _ in range(noise):
        texts.append(" ".join(rng.choice(vocab, int(rng.integers(5, 40)))))
        family.append(-1)
    order = rng.permutation(len(texts))
    return [texts[k] for k in order], [family[k] for k in order]


def test_minhash_recall_on_planted_paraphrases() -> None:
    texts, family = paraphrases(7, families=60, copies=8, noise=3000)
    series = pl.Series(texts)
    exact = near_duplicate_groups(series, method="exact")
    fast = near_duplicate_groups(series)
    sets = token_sets(series)
    i, j, _ = jaccard_pairs(sets, threshold=0.8)
    # the exact pairs the recall is measured on: every pair of copies of a 20-word base
    # (one word replaced or one added) is >= 18/22 = 0.82 alike; the noise never reaches
    # 0.8: all C(8, 2) = 28 pairs of each of the 60 families, and nothing else
    assert i.shape[0] == 60 * 28
    assert np.all(np.array(family)[i] == np.array(family)[j])
    ex = exact.to_numpy()
    fa = fast.to_numpy()
    assert np.all(ex[i] == ex[j])
    recall = float(np.mean(fast.gather(pl.Series(i)).is_not_null().to_numpy() & (fa[i] == fa[j])))
    assert recall >= 0.99
    # every planted family is one group, and nothing else is grouped
    fam = np.array(family)
    grouped = fast.is_not_null().to_numpy()
    assert not grouped[fam < 0].any()
    families = np.unique(fam[fam >= 0]).shape[0]  # the 60 planted
    assert pl.DataFrame({"f": fam[grouped], "g": fa[grouped]}).n_unique() == families


# --------------------------------------------------------------------------------------
# awkward messages


def test_awkward_messages() -> None:
    long = " ".join(f"w{k}" for k in range(10_000))
    texts = [
        None,
        "",
        "   ",
        "word",  # one token: below min_shingles
        "😀😀😀 🔥",  # emoji only: two tokens
        "😀 🔥 👍 ✅ 📢 🙏",
        "😀 🔥 👍 ✅ 📢 🙏!",  # emoji only, 6 tokens each, punctuation dropped: equal sets
        "مرحبا بالعالم كيف حالكم اليوم يا أصدقاء",
        "مرحبا بالعالم كيف حالكم اليوم يا أصدقاء!!",
        "Привет мир как дела сегодня друзья мои",
        "привет мир как дела сегодня друзья мои 🔥",  # one extra token: 7/8
        "今日は東京で大きな会議があります",  # CJK: one token per Han/Hiragana character
        "今日は東京で大きな会議がありました",
        long,
        long + " extra",  # 10,000 / 10,001
    ]
    groups = near_duplicate_groups(pl.Series(texts, dtype=pl.String)).to_list()
    assert groups[:5] == [None] * 5
    assert groups[5:7] == [5, 5]
    assert groups[7:9] == [7, 7]
    assert groups[9:11] == [9, 9]
    # {今,日,は,東,京,で,大,き,な,会,議,が,あ,り,ま,す} vs ... し,た: 15/18 = 0.83
    assert groups[11:13] == [11, 11]
    assert groups[13:15] == [13, 13]
    # mixed scripts never link across scripts: just the five pairs above
    assert len({g for g in groups if g is not None}) == 5


def test_input_is_not_modified_and_shuffling_keeps_groups() -> None:
    texts, _ = paraphrases(3, families=10, copies=4, noise=200)
    series = pl.Series(texts)
    before = series.clone()
    groups = near_duplicate_groups(series)
    assert series.equals(before)
    perm = np.random.default_rng(1).permutation(len(texts))
    shuffled = near_duplicate_groups(series.gather(perm))
    # the same partition (labels are first members, so they differ)
    a = pl.DataFrame({"x": groups.gather(perm), "y": shuffled}).drop_nulls()
    assert a.n_unique() == a["x"].n_unique() == a["y"].n_unique()
    assert groups.null_count() == shuffled.null_count()


def test_parameters_are_checked() -> None:
    s = pl.Series(["a b c d e"])
    for kwargs, match in [
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"shingle": "sentence"}, "shingle"),
        ({"ngram": 0}, "ngram"),
        ({"min_shingles": 0}, "min_shingles"),
        ({"method": "brute"}, "method"),
        ({"bands": 0}, "bands"),
    ]:
        with pytest.raises(ParameterError, match=match):
            near_duplicate_groups(s, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# the signal


def test_similar_actions_keys_and_kinds() -> None:
    texts = [
        "breaking the minister lied about the budget again today",  # e0
        "nothing to do with it at all really just lunch",  # e1
        "Breaking: the minister lied about the budget again today!",  # e2 same words as e0
        "breaking the minister lied about the budget again today",  # e3 a repost: left out
        "breaking the minister lied about budget again today folks",  # e4: 8/10 with e0
        "short one",  # e5
    ]
    ev = events_of(texts, kinds=["post", "post", "reply", "repost", "quote", "post"])
    acts = similar_actions(ev)
    assert acts["event"].to_list() == [0, 2, 4]
    assert acts["key"].to_list() == ["e0", "e0", "e0"]
    assert acts["signal"].unique().to_list() == ["co_similar"]
    assert acts.equals(actions(ev, signals="co_similar"))
    stricter = actions(ev, signals="co_similar", similarity=0.9)
    assert stricter["event"].to_list() == [0, 2]


def test_similar_actions_key_is_the_first_messages_event_id_not_its_row() -> None:
    """The key is read back from the events by event row: reposts before it shift rows.

    e0 and e1 are reposts (left out), so the group of e2, e3 and e5 starts at the first
    text row but at event 2; e4 is alone. Read lazily, the same actions.
    """
    texts = [
        "vote for the new party on sunday it is our last chance",  # e0 repost
        "unrelated words that make no group with anything else",  # e1 repost
        "vote for the new party on sunday it is our last chance",  # e2
        "vote for the new party on sunday it is our last chance!!",  # e3
        "completely unrelated message about football scores tonight",  # e4
        "Vote for the new party on Sunday: it is our last chance",  # e5
    ]
    ev = events_of(texts, kinds=["repost", "repost", "post", "post", "post", "post"])
    acts = similar_actions(ev)
    assert acts["event"].to_list() == [2, 3, 5]
    assert acts["key"].to_list() == ["e2", "e2", "e2"]
    assert similar_actions(ev.lazy()).equals(acts)


@pytest.mark.parametrize("slice_rows", [1, 2, 4, 100])
def test_similar_actions_read_in_slices_equal_the_whole_texts(slice_rows: int) -> None:
    # the events' texts are tokenised a slice at a time: any slice gives the actions of
    # the texts tokenised whole (the char-shingle path, which reads them whole)
    texts = [
        "vote for the new party on sunday it is our last chance",  # e0 repost
        "vote for the new party on sunday it is our last chance",  # e1
        None,  # e2 no text
        "unrelated words that make no group with anything else",  # e3
        "Vote for the new party on Sunday: it is our last chance!",  # e4
        "unrelated words that make no group with anything else at all",  # e5
        "vote for the new party on sunday it is our last chance",  # e6
    ]
    ev = events_of(texts, kinds=["repost", "post", "post", "post", "reply", "post", "quote"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(similar_module, "_EVENT_SLICE", slice_rows)
        got = similar_actions(ev.lazy())
    assert got["event"].to_list() == [1, 3, 4, 5, 6]
    assert got["key"].to_list() == ["e1", "e3", "e1", "e3", "e1"]
    whole = near_duplicate_groups(pl.Series(texts[1:], dtype=pl.String))
    assert whole.to_list() == [0, None, 2, 0, 2, 0]  # rows of e1, -, e3, e1, e3, e1


def test_detect_native_and_cnt_modes() -> None:
    texts = [
        "vote for the new party on sunday it is our last chance",
        "vote for the new party on sunday it is our last chance!!",
        "vote for the new party on sunday it is our only chance",  # 11/13 = 0.85
        "completely unrelated message about football scores tonight",
    ]
    ev = events_of(texts, seconds=[0, 20, 50, 55], actors=["A", "B", "C", "D"])
    res = detect(ev, signals=["co_similar"], window=30)
    pairs = res.edges.select("actor_a", "actor_b").rows()
    assert pairs == [("A", "B"), ("B", "C")]  # A-C are 50 s apart
    cnt = detect_cnt(ev, signals="co_similar", window=30)
    rows = cnt.edges.rows()
    # the toolkit's token sets keep "!" as a token: B = A + {"!"}: 11/12 = 0.92;
    # B and C: 10/14 < 0.8, so only A <-> B
    assert rows == [("A", "B", 1), ("B", "A", 1)]


# --------------------------------------------------------------------------------------
# the benchmark workloads (small)


def test_similar_workload_small(tmp_path: Path) -> None:
    from benchmarks.similar_workload import make_similar_events, run_similar

    a = make_similar_events(4000, seed=3)
    assert a.equals(make_similar_events(4000, seed=3))  # deterministic by seed
    assert a.height == 4000
    copies = a.filter(pl.col("x_family").is_not_null())
    assert 60 <= copies.height <= 120  # 3 % of the rows (a family's base included)
    words = a["text"].str.split(" ").list.len()
    assert words.min() >= 1  # CJK texts have no spaces
    path = tmp_path / "events.parquet"
    a.write_parquet(path)
    report = run_similar(path)
    assert report["rows"] == 4000
    assert report["recall_exact_pairs"] >= 0.99
    assert report["exact_pairs_in_window"] > 0


def test_media_workload_small() -> None:
    from benchmarks.similar_workload import make_phashes

    x = make_phashes(5000, seed=2)
    assert x.dtype == np.uint64 and x.shape == (5000,)
    assert np.array_equal(x, make_phashes(5000, seed=2))
    groups = phash_groups(x, distance=6)
    # the planted re-encodings join: 10 % of the rows (487 copies in 67 families for
    # seed 2, so at most 420 joins); 300 is a loose floor for chains broken at > 6 bits
    joins = 5000 - np.unique(groups).shape[0]
    assert 300 <= joins <= 420
    # brute force: single linkage over all pairs within 6 bits must give the same groups
    parent = list(range(x.shape[0]))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a in range(x.shape[0]):
        close = np.flatnonzero(np.bitwise_count(x[a + 1 :] ^ x[a]) <= 6) + a + 1
        for b in close.tolist():
            parent[root(b)] = root(a)
    assert joins == x.shape[0] - len({root(k) for k in range(x.shape[0])})


_words_st = st.sampled_from(
    ["a", "B", "ça", "x-y", "@who", "http://t.co/x", "1,5", "", "猫犬", " "]
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.lists(_words_st, max_size=8).map(" ".join)), max_size=12),
    st.integers(1, 5),
    st.sampled_from(["default", "toolkit"]),
)
def test_token_sets_do_not_depend_on_the_block_of_messages(
    texts: list[str | None], block: int, tokenizer: str
) -> None:
    # word unigrams are tokenised a block of messages at a time: any block gives the sets
    # the messages have one by one
    expected = [sets_as_python([t], tokenizer=tokenizer)[0] for t in texts]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(similar_module, "_TEXT_BLOCK", block)
        got = sets_as_python(texts, tokenizer=tokenizer)
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=6), max_size=10),
    st.integers(1, 4),
)
def test_signatures_are_the_minimum_hash_of_each_set(sets: list[list[int]], block: int) -> None:
    # MinHash by hand: for each function k, the smallest (a_k·x + b_k mod 2⁶⁴) >> 32 over
    # the set's shingles x; any block of sets gives the same matrix, one row per set
    vocab = np.array(sorted({x for s in sets for x in s}), dtype=np.uint64) * np.uint64(
        0x9E3779B97F4A7C15
    )
    ids = [sorted({sorted({x for s in sets for x in s}).index(x) for x in s}) for s in sets]
    indptr = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum([len(i) for i in ids], out=indptr[1:])
    flat = np.array([x for i in ids for x in i], dtype=np.int64)
    token = similar_module.TokenSets(indptr, flat, vocab)
    count = 6
    a, b = similar_module._multipliers(count)
    expected = np.array(
        [
            [min(((int(vocab[x]) * int(a[k]) + int(b[k])) % 2**64) >> 32 for x in i)
             for k in range(count)]
            for i in ids
        ],
        dtype=np.uint32,
    ).reshape(len(sets), count)  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(similar_module, "_SIGNATURE_BLOCK", block)
        got = similar_module._signatures(token, count)
        band = similar_module._signatures(token, count, range(2, 5))  # one band's functions
    assert got.shape == (len(sets), count)
    assert np.array_equal(got, expected)
    assert np.array_equal(band, expected[:, 2:5])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 12), min_size=1, max_size=7), max_size=14),
    st.sampled_from([(3, 2), (4, 1), (2, 3)]),
    st.sampled_from([0.3, 0.5, 0.8]),
)
def test_minhash_pairs_from_the_bucketed_sets_alone_are_those_of_all_sets(
    sets: list[list[int]], shape: tuple[int, int], threshold: float
) -> None:
    # the full signatures are computed only for the sets sharing a bucket in some band:
    # the pairs found are exactly those found with every set's signature held
    universe = sorted({x for s in sets for x in s})
    vocab = np.array(universe, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    ids = [sorted({universe.index(x) for x in s}) for s in sets]
    indptr = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum([len(i) for i in ids], out=indptr[1:])
    token = similar_module.TokenSets(
        indptr, np.array([x for i in ids for x in i], dtype=np.int64), vocab
    )
    bands, rows = shape
    got = similar_module._minhash_pairs(token, threshold, bands, rows)
    if len(sets) == 0:
        assert got[0].shape == (0,)
        return
    held = similar_module._bucket_pairs(token, threshold, bands, rows)
    assert np.array_equal(got[0], held[0])
    assert np.array_equal(got[1], held[1])
    # sets that are equal always share every bucket: they are connected
    label = _components(len(sets), list(zip(got[0].tolist(), got[1].tolist(), strict=True)))
    for i, j in itertools.combinations(range(len(sets)), 2):
        if set(sets[i]) == set(sets[j]):
            assert label[i] == label[j]
