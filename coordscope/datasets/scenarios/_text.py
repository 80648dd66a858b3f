"""Vocabulary, texts, handles, domains, URLs and hashtags of the simulation.

Everything is fictional: words are common English words followed by pseudo-words built
from syllables (a fixed vocabulary, the same for every seed); domains are made of
pseudo-words. Word, hashtag and URL popularities are Zipf-like. All functions are
vectorized (numpy draws, polars string concatenation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

__all__ = [
    "EMOJIS",
    "HASHTAGS",
    "VOCAB",
    "UrlPool",
    "article_urls",
    "camel",
    "codes",
    "coin",
    "compound_words",
    "domains",
    "handles",
    "hashtag_lists",
    "join_words",
    "one_item_lists",
    "pick",
    "tco_links",
    "texts",
    "url_pool",
    "word_indices",
    "zipf_cdf",
]

_COMMON: Final = (
    "the", "to", "and", "a", "of", "in", "is", "for", "on", "that", "this", "it", "with", "you",
    "we", "are", "be", "not", "at", "have", "they", "from", "our", "all", "will", "just",
    "about", "what", "more", "now", "people", "new", "today", "time", "can", "one", "no", "so",
    "if", "but", "like", "do", "get", "been", "was", "has", "out", "up", "who", "how", "news",
    "your", "my", "their", "should", "must", "why", "when", "world", "government", "vote",
    "day", "year", "first", "live", "report", "video", "watch", "read", "thread", "support",
    "country", "health", "economy", "climate", "police", "election", "city", "week", "free",
    "never", "every", "great", "big", "good", "bad", "still", "again", "here", "there", "than",
    "into", "over", "after", "before", "against", "because", "local", "school", "money", "tax",
    "war", "peace", "law", "court", "energy", "food", "water", "family", "work", "jobs", "love",
    "hope", "truth", "media", "story"
)  # fmt: skip

_ONSETS: Final = (
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
    "br", "ch", "cl", "cr", "dr", "fl", "gr", "pl", "pr", "sh", "sl", "st", "th", "tr"
)  # fmt: skip
_VOWELS: Final = ("a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou")
_CODAS: Final = ("", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck")
_VOCAB_SIZE: Final = 3000
_VOCAB_SEED: Final = 20_240_301
_HANDLE_PRIME: Final = 99_999_989

_ALPHABET: Final = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_SECTIONS: Final = (
    "politics", "world", "us", "business", "tech", "science", "health", "sports", "culture",
    "opinion", "local", "video"
)  # fmt: skip
_TLDS: Final = ("com", "com", "com", "com", "net", "org", "co.uk", "info", "news", "de")
#: Emojis appended to copied messages.
EMOJIS: Final = ("🔥", "👇", "💯", "‼️", "👏", "🙏", "😡", "✅", "📢", "🚨")


def zipf_cdf(n: int, exponent: float, offset: float = 2.7) -> np.ndarray:
    """CDF of a Zipf–Mandelbrot law over ranks ``0..n-1`` (``p ∝ (r + offset)^-exponent``)."""
    p = (np.arange(n) + offset) ** -exponent
    return np.asarray(np.cumsum(p) / p.sum())


def coin(rng: np.random.Generator, n: int, p: float | np.ndarray) -> np.ndarray:
    """``n`` independent booleans, each True with probability ``p``."""
    return np.asarray(rng.random(n) < p, dtype=bool)


def pick(rng: np.random.Generator, cdf: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Draw ranks i.i.d. from a CDF.

    Small draws use the inverse transform; large ones draw the multinomial counts of
    each rank and shuffle the repeated ranks (same distribution, ``O(n + k)`` instead
    of ``O(n log k)`` with cache misses).
    """
    n = int(np.prod(size))
    k = cdf.shape[0]
    if n < 10_000 or k < 64:
        return np.asarray(np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), k - 1))
    counts = rng.multinomial(n, np.diff(cdf, prepend=0.0))
    ranks = np.repeat(np.arange(k), counts)
    rng.shuffle(ranks)
    return ranks.reshape(size)


_TABLE_BITS: Final = 20


def _table(cdf: np.ndarray) -> np.ndarray:
    """Inverse-CDF lookup table with 2^20 cells (probabilities resolved to ~1e-6)."""
    cells = (np.arange(1 << _TABLE_BITS) + 0.5) / (1 << _TABLE_BITS)
    ranks = np.minimum(np.searchsorted(cdf, cells, side="right"), cdf.shape[0] - 1)
    return np.asarray(ranks, dtype=np.int32)


def _draw(rng: np.random.Generator, table: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Fast draws from a lookup table made by :func:`_table` (a gather, no search)."""
    return np.asarray(table[rng.integers(0, 1 << _TABLE_BITS, size, dtype=np.uint32)])


def _pseudo_words(rng: np.random.Generator, n: int) -> np.ndarray:
    syll = np.array([o + v + c for o in _ONSETS for v in _VOWELS for c in _CODAS], dtype=np.str_)
    k = np.searchsorted(np.array([0.3, 0.85, 1.0]), rng.random(n), side="right") + 1
    parts = syll[rng.integers(0, syll.shape[0], (n, 3))]
    word = parts[:, 0]
    for j in (1, 2):
        word = np.where(k > j, np.char.add(word, parts[:, j]), word)
    return np.asarray(word)


def _build_vocab() -> np.ndarray:
    rng = np.random.default_rng(_VOCAB_SEED)
    cand = _pseudo_words(rng, 4 * _VOCAB_SIZE)
    _, first = np.unique(cand, return_index=True)
    cand = cand[np.sort(first)]
    cand = cand[(np.char.str_len(cand) >= 3) & ~np.isin(cand, _COMMON)]
    return np.concatenate([np.array(_COMMON), cand[: _VOCAB_SIZE - len(_COMMON)]])


_VOCAB_NP: Final = _build_vocab()
#: The fixed vocabulary, most frequent first.
VOCAB: Final = pl.Series("word", _VOCAB_NP)
_WORD_TABLE: Final = _table(zipf_cdf(VOCAB.len(), 1.05))
# Content words (short pseudo-words) for domains and handles.
_PSEUDO: Final = _VOCAB_NP[len(_COMMON) :]
_CONTENT: Final = pl.Series("word", _PSEUDO[np.char.str_len(_PSEUDO) <= 7])
_TOPICS: Final = (
    "news", "breaking", "vote", "election", "climate", "health", "economy", "police", "school",
    "money", "tax", "war", "peace", "law", "court", "energy", "food", "water", "family", "jobs",
    "truth", "media", "world", "local", "city"
)  # fmt: skip
_TAG_NP: Final = np.concatenate(
    [
        np.array(_TOPICS),
        _VOCAB_NP[len(_COMMON) : len(_COMMON) + 500],
        np.char.add(_VOCAB_NP[len(_COMMON) + 500 : 900], _VOCAB_NP[len(_COMMON) : 900 - 500]),
    ]
)
#: Organic hashtags (lower-case, no ``#``), most popular first.
HASHTAGS: Final = pl.Series("tag", _TAG_NP)
_TAG_TABLE: Final = _table(zipf_cdf(HASHTAGS.len(), 1.0, offset=1.5))


def word_indices(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Draw an ``(n, k)`` matrix of Zipf-distributed vocabulary indices."""
    return _draw(rng, _WORD_TABLE, (n, k))


def join_words(idx: np.ndarray, lengths: np.ndarray, sep: str = " ") -> pl.Series:
    """Join the first ``lengths[i]`` words of row ``i`` of ``idx`` with ``sep``."""
    n, k = idx.shape
    words = VOCAB.gather(np.ascontiguousarray(idx).ravel()).reshape((n, k))
    frame = pl.DataFrame({"w": words, "n": lengths})
    return frame.select(
        pl.col("w").cast(pl.List(pl.String)).list.head(pl.col("n")).list.join(sep).alias("text")
    ).to_series()


def texts(rng: np.random.Generator, n: int, lo: int, hi: int, sep: str = " ") -> pl.Series:
    """``n`` texts of ``lo..hi`` (inclusive) Zipf-drawn words; mostly distinct."""
    lengths = rng.integers(lo, hi + 1, n)
    return join_words(word_indices(rng, n, hi), lengths, sep)


def codes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``n`` random base-62 codes of ``k`` characters."""
    chars = np.ascontiguousarray(_ALPHABET[rng.integers(0, 62, (n, k))])
    return np.asarray(chars.view(f"<U{k}").ravel())


def tco_links(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` Twitter-style shortened links as they appear in tweet text."""
    return pl.Series("tco", codes(rng, n, 10)).str.replace(r"^", "https://t.co/")


def camel(tags: pl.Series) -> pl.Series:
    """Hashtags with the first letter upper-cased, as users often type them."""
    return tags.str.slice(0, 1).str.to_uppercase() + tags.str.slice(1)


def compound_words(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` lower-case two-word compounds (new hashtags, names), e.g. ``stunbraivo``."""
    a = _CONTENT.gather(np.asarray(rng.integers(0, _CONTENT.len(), n)))
    b = _CONTENT.gather(np.asarray(rng.integers(0, _CONTENT.len(), n)))
    return (a + b).alias("word")


def handles(rng: np.random.Generator, index: np.ndarray, prefix: str | None) -> pl.Series:
    """Make handles for accounts with indices ``index``: two words and a scrambled number.

    The number is a bijective scramble of the index (modulo the prime 99,999,989), so
    handles are unique below that many accounts. ``prefix`` replaces the first word.
    """
    n = index.shape[0]
    first = (
        pl.Series(np.full(n, prefix))
        if prefix is not None
        else _CONTENT.gather(np.asarray(rng.integers(0, _CONTENT.len(), n)))
    )
    second = camel(_CONTENT.gather(np.asarray(rng.integers(0, _CONTENT.len(), n))))
    num = pl.Series((index.astype(np.int64) * 7_919 + 104_729) % _HANDLE_PRIME).cast(pl.String)
    sep = pl.Series(np.where(coin(rng, n, 0.4), "_", "")).cast(pl.String)
    return (first + sep + second + num).alias("handle")


def domains(rng: np.random.Generator, n: int, suffix: str = "") -> np.ndarray:
    """``n`` distinct fictional domains such as ``brailomnews.com``."""
    a = _CONTENT.gather(rng.integers(0, _CONTENT.len(), 3 * n)).to_numpy()
    b = _CONTENT.gather(rng.integers(0, _CONTENT.len(), 3 * n)).to_numpy()
    tld = np.array(_TLDS)[rng.integers(0, len(_TLDS), 3 * n)]
    full = np.char.add(np.char.add(np.char.add(a, b), suffix + "."), tld)
    _, first = np.unique(full, return_index=True)
    return np.asarray(full[np.sort(first)][:n])


def article_urls(rng: np.random.Generator, domain: np.ndarray) -> pl.Series:
    """One normalised article URL per entry of ``domain`` (``https://host/section/…``)."""
    n = domain.shape[0]
    section = pl.Series(np.array(_SECTIONS)[rng.integers(0, len(_SECTIONS), n)])
    day = rng.integers(1, 29, n)
    date = pl.Series(np.char.add("2024/02/", np.char.zfill(day.astype(str), 2)))
    slug = texts(rng, n, 3, 6, sep="-")
    art = pl.Series(rng.integers(100_000, 99_999_999, n)).cast(pl.String)
    return (
        pl.Series("url", domain).str.replace(r"^", "https://")
        + "/"
        + section
        + "/"
        + (date + "/" + slug + "-" + art)
    )


@dataclass
class UrlPool:
    """URLs with a Zipf-like popularity; :meth:`sample` draws from it."""

    urls: pl.Series
    cdf: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> pl.Series:
        """``n`` URLs drawn by popularity."""
        return self.urls.gather(pick(rng, self.cdf, n))


def url_pool(rng: np.random.Generator, n_urls: int, n_domains: int) -> UrlPool:
    """Organic URLs: articles on Zipf-popular domains, video links and shortened links.

    About 8 % are on shortener domains (``bit.ly`` …, unresolved codes), 6 % are video
    links with a (non-tracking) ``?v=`` query; URLs are already in normalised form.
    """
    doms = domains(rng, n_domains)
    kind = rng.random(n_urls)
    dom = doms[pick(rng, zipf_cdf(doms.shape[0], 1.1, 1.0), n_urls)]
    urls = article_urls(rng, dom)
    video = pl.Series(codes(rng, n_urls, 11)).str.replace(r"^", "https://youtube.com/watch?v=")
    short_dom = np.array(["bit.ly", "buff.ly", "ow.ly", "dlvr.it", "tinyurl.com"])
    short = pl.Series(short_dom[rng.integers(0, 5, n_urls)]).str.replace(r"^", "https://") + (
        pl.Series(codes(rng, n_urls, 7)).str.replace(r"^", "/")
    )
    frame = pl.DataFrame({"k": kind, "a": urls, "v": video, "s": short})
    out = frame.select(
        pl.when(pl.col("k") < 0.08)
        .then(pl.col("s"))
        .when(pl.col("k") < 0.14)
        .then(pl.col("v"))
        .otherwise(pl.col("a"))
    ).to_series()
    return UrlPool(out.alias("url"), zipf_cdf(n_urls, 0.9, 1.0))


def one_item_lists(values: pl.Series, present: np.ndarray) -> pl.Series:
    """``List(String)``: ``[values[i]]`` where ``present[i]``, else ``[]``."""
    frame = pl.DataFrame({"v": values, "p": present})
    return frame.select(
        pl.when(pl.col("p"))
        .then(pl.concat_list(pl.col("v")))
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
        .alias("l")
    ).to_series()


def hashtag_lists(rng: np.random.Generator, n: int, p_any: float) -> pl.Series:
    """``n`` lists of 0–3 distinct organic hashtags; a list is non-empty with ``p_any``."""
    count = np.where(coin(rng, n, p_any), pick(rng, np.array([0.6, 0.88, 1.0]), n) + 1, 0)
    tags = HASHTAGS.gather(_draw(rng, _TAG_TABLE, (n, 3)).ravel()).reshape((n, 3))
    return (
        pl.DataFrame({"t": tags, "n": count})
        .select(
            pl.col("t")
            .cast(pl.List(pl.String))
            .list.head(pl.col("n"))
            .list.unique(maintain_order=True)
            .alias("hashtags")
        )
        .to_series()
    )
