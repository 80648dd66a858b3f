"""Near-duplicate text: the ``co_similar`` signal (issue 6).

Coordinated campaigns paste one message with small edits. Two messages are *near
duplicates* when the Jaccard index of their shingle sets is at least a threshold ``t``
(inclusive): ``|A ∩ B| / |A ∪ B| >= t``. Near-duplicate *groups* are the connected
components of that relation (single linkage, as union-find over the similar pairs): a
chain ``a ~ b ~ c`` puts ``a`` and ``c`` in one group even when ``J(a, c) < t``. The group
becomes the key of ``co_similar`` actions, so the co-action kernel, the null model and the
graphs serve it unchanged (the window is applied by the kernel, not here: groups are
global, like the exact-copy key of ``co_text``).

Pipeline (:func:`near_duplicate_groups`), with no Python loop over messages, shingles or
pairs:

1. **Normalise** (:func:`similarity_text`): Unicode NFKC, lower case, URLs and
   ``@mentions`` removed (each optional), white space collapsed.
2. **Shingle** (:func:`shingles`): word tokens (:data:`WORD_PATTERN`: runs of letters,
   digits and symbols, one token a character in scripts written without spaces,
   punctuation dropped; or :data:`TOKEN_PATTERN`, Unicode word segmentation with
   punctuation tokens, when ``keep_punctuation``), then word ``n``-grams, or character
   ``n``-grams. Each shingle is hashed to 64 bits (polars ``hash``, seeded): the shingle
   *set* of a message is its set of hashes (two different shingles share a hash with
   probability ``2⁻⁶⁴``). :func:`token_sets` normalises and splits each *distinct* word
   once, not each message.
3. Messages with fewer than ``min_shingles`` shingles get no group (a one-word message
   would otherwise be "similar" to every other one). Messages with the same shingle set
   are merged first (128-bit set fingerprint), so exact copies cost nothing more.
4. **MinHash** (Broder 1997): ``bands × rows`` signatures per distinct set, with the
   multiply-shift hash family ``h_k(x) = (a_k·x + b_k mod 2⁶⁴) >> 32`` (Dietzfelbinger et
   al. 1997) applied once per distinct shingle and reduced per message with
   ``np.minimum.reduceat``.
5. **LSH banding** (Indyk & Motwani 1998; Leskovec, Rajaraman & Ullman, *Mining of Massive
   Datasets*, ch. 3): messages whose signatures agree on all ``rows`` values of one of the
   ``bands`` bands become candidate pairs (the band keys are sorted into buckets, and a
   pair is a candidate of the first band it agrees on, so it is checked once). A pair of
   Jaccard ``s`` is a candidate with probability ``1 − (1 − s^rows)^bands``
   (:func:`lsh_probability`).
6. Candidates whose sizes rule them out (``min/max < t``) or whose signatures agree on
   fewer than ``t − 4σ`` of all values (``σ = sqrt(t(1−t)/(bands·rows))``: a
   false-negative rate below 10⁻⁴ at ``s = t``) are dropped as they are found, in a
   compiled loop over each bucket's pairs (:func:`_verify_buckets`), so memory follows
   the pairs that pass, not the candidates (``K²/2`` for a bucket of ``K`` messages:
   hundreds of millions when millions of short messages draw on one small vocabulary);
   the rest get the **exact Jaccard** of their shingle sets. A union-find in the same
   loop skips the pairs whose messages are connected already: only the components
   count, and a bucket of ``K`` near copies then costs ``K²/2`` lookups, not ``K²/2``
   comparisons of signatures.
7. **Components** of the verified pairs (:func:`scipy.sparse.csgraph.connected_components`).

The default ``bands = 12``, ``rows = 5`` (60 hash functions) is chosen for ``t = 0.8``:

==========  ==========================================================================
Jaccard s   probability that a pair of similarity ``s`` is a candidate (``1 − (1 − s⁵)¹²``)
==========  ==========================================================================
1.0         1
0.9         0.99998
0.85        0.9991
0.8         0.9915 (the recall at the threshold itself; pairs above it do better)
0.7         0.89
0.5         0.32
0.3         0.029
0.1         0.00012
==========  ==========================================================================

so a pair at ``J >= 0.8`` is linked directly with probability at least 0.9915, and most
of the pairs missed directly are still joined through a third message of their group
(union-find); the ``co_similar_1m`` benchmark measures the recall of the exact pairs
(``benchmarks/results``). ``rows = 5`` keeps chance candidates between unrelated
messages that share common words (``s`` ≈ 0.1–0.3) rare; 60 functions keep the
signatures at about half the cost of the whole stage. Candidates below the threshold
are removed by the exact check: the precision of the linked pairs is 1 by construction.
The exact path (``method="exact"``) finds every pair at ``J >= t`` with prefix filtering
(Chaudhuri, Ganti & Kaushik 2006; Bayardo, Ma & Srikant 2007) and the same exact check;
it is the reference the MinHash path is measured against.

Cost: ``O(E log E)`` for ``E`` shingle occurrences (one sort), ``O(V·bands·rows + R·bands·
rows)`` for ``V`` distinct shingles and ``R`` distinct sets (the signatures), ``O(R log R)``
per band, and ``O(C·bands·rows + C'·L)`` for ``C`` candidate pairs, ``C'`` of them
verified, ``L`` shingles a message. Memory: the sets, the signatures (``4·bands·rows``
bytes a distinct set) and ``C'``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, cast

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from coordscope.budget import thread_pool, usable_cores
from coordscope.engine.jit import jit
from coordscope.engine.kernel import band_pairs
from coordscope.errors import ParameterError
from coordscope.schema import EVENT_ID, KIND, TEXT, EventFrame
from coordscope.signals.exact import actions_from_keys

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_ROWS",
    "METHODS",
    "SHINGLE_KINDS",
    "TEXT_KINDS",
    "TOKEN_PATTERN",
    "WORD_PATTERN",
    "TokenSets",
    "WordSets",
    "jaccard_pairs",
    "lsh_probability",
    "near_duplicate_groups",
    "shingles",
    "similar_actions",
    "similarity_text",
    "streamed_sets",
    "subset_sets",
    "token_sets",
    "toolkit_tokens",
]

#: LSH bands and rows per band of the MinHash path (see the module docstring).
DEFAULT_BANDS: Final = 12
DEFAULT_ROWS: Final = 5
#: ``"word"``: word n-grams; ``"char"``: character n-grams of the normalised text.
SHINGLE_KINDS: Final = ("word", "char")
#: ``"minhash"``: MinHash + LSH + exact check; ``"exact"``: every pair, prefix filtering.
METHODS: Final = ("minhash", "exact")

Method = Literal["minhash", "exact"]
ShingleKind = Literal["word", "char"]
IntArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint64]
#: Shingle numbers: int32 while the vocabulary allows (half the memory of the sets).
IdArray = npt.NDArray[np.int32] | npt.NDArray[np.int64]

# --- word segmentation: Unicode's default word boundaries (UAX #29), as one regex -------
# Extend / Format characters (and emoji modifiers) stick to the character before them;
# a zero-width joiner also pulls in a following pictograph (WB3c, WB4).
_X: Final = (
    r"(?:[\p{M}\p{Cf}\p{Emoji_Modifier}--[\x{200B}\x{200D}]]|\x{200D}\p{Extended_Pictographic}?)"
)
_HL: Final = r"[\p{Hebrew}&&\p{L}]"
_AL: Final = (
    r"[\p{Alphabetic}--[\p{Ideographic}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Myanmar}"
    r"\p{Khmer}\p{M}\x{30FC}[\p{Hebrew}&&\p{L}]]]"
)
_NU: Final = r"[\p{Nd}\x{66B}\x{66C}]"
_KA: Final = r"[\p{Katakana}\x{30FC}\x{3031}-\x{3035}\x{309B}\x{309C}\x{30A0}\x{FF70}]"
_EX: Final = r"[\p{Pc}\x{202F}]"
_MID_NUM_LET: Final = r".\x{2018}\x{2019}\x{2024}\x{FE52}\x{FF07}\x{FF0E}'"
_MID_LETTER: Final = (
    rf"[:\x{{B7}}\x{{387}}\x{{55F}}\x{{5F4}}\x{{2027}}\x{{FE13}}\x{{FE55}}\x{{FF1A}}"
    rf"{_MID_NUM_LET}]"
)
_MID_NUM: Final = (
    rf"[,;\x{{37E}}\x{{589}}\x{{60C}}\x{{60D}}\x{{66C}}\x{{7F8}}\x{{2044}}\x{{FE10}}\x{{FE14}}"
    rf"\x{{FE50}}\x{{FE54}}\x{{FF0C}}\x{{FF1B}}{_MID_NUM_LET}]"
)
# Hebrew letters: a double quote between two of them joins (WB7b-c), and an apostrophe
# after one sticks to it (WB7a)
_HLA: Final = f"(?:{_HL}{_X}*(?:\"{_X}*{_HL}{_X}*)*(?:'{_X}*)?)"
_LA: Final = f"(?:{_AL}{_X}*|{_HLA})"
_NA: Final = f"(?:{_NU}{_X}*)"
_KAA: Final = f"(?:{_KA}{_X}*)"
_EA: Final = f"(?:{_EX}{_X}*)"
# letters and digits join (WB9-10); a MidLetter between letters, a MidNum between digits
# (WB6-7, WB11-12); Katakana runs (WB13); connectors join anything (WB13a-b)
_LETTERS: Final = f"(?:{_LA}(?:{_MID_LETTER}{_X}*{_LA})*|{_NA}(?:{_MID_NUM}{_X}*{_NA})*)+"
_KATAKANA: Final = f"(?:{_KAA})+"
_WORD: Final = f"{_EA}*(?:{_LETTERS}|{_KATAKANA})(?:{_EA}+(?:{_LETTERS}|{_KATAKANA}))*{_EA}*|{_EA}+"
_EP: Final = r"\p{Extended_Pictographic}"
_RI: Final = r"[\x{1F1E6}-\x{1F1FF}]"

#: One token: a word (letters, digits, connectors and their inner punctuation, e.g.
#: ``don't``, ``3.14``, ``u.s.a``, ``a_b``), a Katakana run, an emoji (with modifiers and
#: joiners), a flag (two regional indicators), or any other single non-space character
#: (punctuation, one Han or Hiragana or Thai character). A lone ASCII apostrophe is no
#: token. This is Unicode's default word segmentation (UAX #29) as the ``regex`` module
#: applies it (checked on 20,000 random strings of each of several adversarial alphabets:
#: ASCII letters, digits and inner punctuation; Cyrillic, Greek, Hangul, Thai, Han,
#: Katakana; emoji with modifiers, flags; combining and format characters), except in two
#: rare cases: a letter + zero-width joiner + pictograph run also takes the letters after
#: it, and a Hebrew letter + apostrophe also takes the digits or inner punctuation after
#: it (about 2 % of random strings over an alphabet of Hebrew letters, quotes, digits and
#: punctuation; none in ordinary text).
TOKEN_PATTERN: Final = (
    f"{_WORD}|{_EP}{_X}*|{_RI}{_X}*(?:{_RI}{_X}*)?|\\x{{200D}}{_EP}{_X}*|[^\\s']{_X}*"
)
#: A token made only of punctuation or symbols (dropped from word shingles by default).
_NO_SPACE: Final = r"\p{Han}\p{Hiragana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
#: Word tokens without punctuation (the default of :func:`near_duplicate_groups`): runs of
#: characters that are neither white space nor punctuation (``#tag`` → ``tag``, ``don't``
#: → ``don``, ``t``; symbols and emoji stay), except that every Han, Hiragana, Thai, Lao,
#: Khmer or Myanmar character is a token of its own (scripts written without spaces).
WORD_PATTERN: Final = f"[{_NO_SPACE}]|[^\\s\\p{{P}}{_NO_SPACE}]+"
_URL: Final = r"(?i)(?:https?://|www\.)\S+"
_MENTION: Final = r"@\w+"
_SIGNAL: Final = "co_similar"
#: Kinds whose text counts for ``co_similar`` (reposts and forwards repeat someone else's).
TEXT_KINDS: Final = ("post", "quote", "reply", "comment")
#: Multiply-shift constants are drawn from this generator (fixed: signatures do not
#: depend on the user's seed, only the shingle hashes do).
_HASH_SEED: Final = 0x5EED_C0DE
_CHUNK_PAIRS: Final = 1 << 20


def similarity_text(
    text: pl.Expr, *, remove_urls: bool = True, remove_mentions: bool = True
) -> pl.Expr:
    """Normalise message text for near-duplicate matching (as one expression).

    Unicode NFKC, lower case, URLs (``http(s)://…`` and ``www.…`` up to the next white
    space) and ``@mentions`` removed when asked, runs of white space collapsed to one space,
    ends stripped. Nulls stay null. (:func:`near_duplicate_groups` applies the same steps,
    NFKC and lower case to each distinct word rather than to each message: the same
    result for word shingles, at a fraction of the cost.)
    """
    out = _strip_urls_mentions(text, remove_urls, remove_mentions)
    out = out.str.normalize("NFKC").str.to_lowercase()
    return out.str.replace_all(r"\s+", " ").str.strip_chars()


def toolkit_tokens(text: pl.Expr) -> pl.Expr:
    """coordination-network-toolkit's ``tokenize``: the token list of each message.

    Lower case; ``@`` and everything up to the next white space removed; the tokens of
    :data:`TOKEN_PATTERN` (words with their inner punctuation, each other punctuation
    character, emoji; white space and lone apostrophes dropped). As a set, this is the
    toolkit's ``set(tokenize(text).split())`` (``co_similar_tweet``).
    """
    return text.str.to_lowercase().str.replace_all(r"@\S*", "").str.extract_all(TOKEN_PATTERN)


def shingles(
    text: pl.Expr,
    *,
    kind: ShingleKind = "word",
    ngram: int = 1,
    keep_punctuation: bool = False,
) -> pl.Expr:
    """Return the shingles of already normalised text, as a List(String) expression.

    This is the readable definition (used in tests); :func:`token_sets` computes the
    same sets by hashing, without building the strings.

    Parameters
    ----------
    text : polars.Expr
        Normalised text (:func:`similarity_text`).
    kind : {"word", "char"}
        ``word``: the tokens of :data:`WORD_PATTERN` (or of :data:`TOKEN_PATTERN`, with
        punctuation tokens, when ``keep_punctuation``), joined into ``ngram``-grams with
        one space; ``char``: every ``ngram`` consecutive characters (spaces included).
    ngram : int
        Shingle length, ``>= 1``. A text of fewer than ``ngram`` units gives one shingle
        (all its units), so short texts are not silently empty.
    keep_punctuation : bool
        Word shingles: keep punctuation and symbol tokens (toolkit-style tokens).
    """
    if kind == "word":
        units = text.str.extract_all(TOKEN_PATTERN if keep_punctuation else WORD_PATTERN)
        sep = " "
    else:
        units = text.str.split("").list.filter(pl.element() != "")
        sep = ""
    if ngram == 1:
        return units
    grams = pl.element()
    for k in range(1, ngram):
        grams = grams + sep + pl.element().shift(-k)
    joined = units.list.eval(grams.drop_nulls())
    whole = units.list.join(sep)
    return (
        pl.when(units.list.len() == 0)
        .then(units)
        .when(units.list.len() < ngram)
        .then(pl.concat_list(whole))
        .otherwise(joined)
    )


@dataclass(frozen=True)
class TokenSets:
    """Shingle sets as a CSR structure: set ``m`` holds ``ids[indptr[m]:indptr[m + 1]]``.

    ``ids`` are dense shingle numbers, sorted and unique within each set; ``vocab[id]`` is
    the shingle's 64-bit hash (two different shingles share a hash with probability
    ``2⁻⁶⁴``: equal hashes are taken as equal shingles).
    """

    indptr: IntArray
    ids: IdArray
    vocab: UIntArray

    @property
    def sizes(self) -> IntArray:
        """Number of distinct shingles of each set."""
        return np.diff(self.indptr)

    @property
    def n_ids(self) -> int:
        """Number of distinct shingles."""
        return int(self.vocab.shape[0])


def token_sets(
    text: pl.Series,
    *,
    kind: ShingleKind = "word",
    ngram: int = 1,
    keep_punctuation: bool = False,
    remove_urls: bool = True,
    remove_mentions: bool = True,
    seed: int = 0,
    tokenizer: str = "default",
) -> TokenSets:
    """Compute the shingle set of every message (one set per row of ``text``; nulls give ``{}``).

    Equal to hashing ``shingles(similarity_text(text))`` row by row, computed without
    per-message strings: the text is split at spaces, each *distinct* word is normalised
    (NFKC, lower case) and split into tokens once, and the messages' token sequences are
    joined from that table; n-grams combine consecutive token hashes arithmetically.
    ``tokenizer="toolkit"`` gives coordination-network-toolkit's token sets instead
    (:func:`coordscope.compat.cnt` ``co_similar_tweet``: lower case, ``@`` up to the
    next white space removed, :data:`TOKEN_PATTERN` tokens, no NFKC, URLs kept).

    Cost ``O(E log E)`` for ``E`` shingles (one sort), plus ``O(W)`` regex work for ``W``
    distinct words.
    """
    n = text.len()
    if kind == "word" and ngram == 1:
        blocks = WordSets(
            keep_punctuation=keep_punctuation,
            remove_urls=remove_urls,
            remove_mentions=remove_mentions,
            seed=seed,
            tokenizer=tokenizer,
        )
        for start in range(0, n, _TEXT_BLOCK):
            blocks.add(text.slice(start, _TEXT_BLOCK))
        return blocks.sets()
    prepare, pre_word, pattern = _tokenizer(
        keep_punctuation=keep_punctuation,
        remove_urls=remove_urls,
        remove_mentions=remove_mentions,
        tokenizer=tokenizer,
    )
    pre = prepare(text)
    if kind == "char":
        units = pl.DataFrame({"t": pre}).select(
            pl.col("t")
            .str.normalize("NFKC")
            .str.to_lowercase()
            .str.replace_all(r"\s+", " ")
            .str.strip_chars()
            .str.split("")
            .alias("u")
        )
        frame = (
            units.with_row_index("m")
            .explode("u", keep_nulls=False, empty_as_null=False)
            .filter(pl.col("u").is_not_null() & (pl.col("u") != ""))
            .select("m", pl.col("u").hash(seed).alias("h"))
        )
        m = frame["m"].to_numpy().astype(np.int64)
        h = frame["h"].to_numpy()
    else:
        words = _words(pre, 0, seed)
        table = _word_tokens(words, pre_word, pattern, seed)
        frame = words.select("m", "rh").join(table, on="rh", how="inner", maintain_order="left")
        m = frame["m"].to_numpy().astype(np.int64)
        h = frame["h"].to_numpy()
    if ngram > 1:
        m, h = _ngrams(m, h, ngram)
    return _csr(m, h, n)


#: Messages tokenised at once (:func:`token_sets`, word unigrams).
_TEXT_BLOCK: Final = 1 << 19


class WordSets:
    """Word-token sets built a block of messages at a time (:func:`token_sets`' word path).

    Feed the messages in order with :meth:`add` (any number of blocks, of any size) and
    take the sets with :meth:`sets`: the same sets as :func:`token_sets` with
    ``kind="word", ngram=1`` over all the messages at once. Only the sets made so far and
    the table of distinct words are kept between blocks: a caller reading texts a slice at
    a time never holds them all (a month of posts: gigabytes of text, and 12 bytes a word
    occurrence while words wait for their numbers).

    Each *distinct* word is normalised and split into tokens once, when first seen;
    shingles are numbered in order of first appearance (``vocab`` is not sorted; nothing
    depends on the numbering but the order of ids inside each set, which is ascending).
    Parameters as in :func:`token_sets`.
    """

    def __init__(
        self,
        *,
        keep_punctuation: bool = False,
        remove_urls: bool = True,
        remove_mentions: bool = True,
        seed: int = 0,
        tokenizer: str = "default",
    ) -> None:
        self._prepare, self._pre_word, self._pattern = _tokenizer(
            keep_punctuation=keep_punctuation,
            remove_urls=remove_urls,
            remove_mentions=remove_mentions,
            tokenizer=tokenizer,
        )
        self._seed = seed
        # distinct word hash -> shingle ids of its tokens; token hash -> shingle id
        self._seen = pl.DataFrame(schema={"rh": pl.UInt64})  # every distinct word hash
        self._table = pl.DataFrame(schema={"rh": pl.UInt64, "id": pl.Int64})
        self._vocab = pl.DataFrame(schema={"h": pl.UInt64, "id": pl.Int64})
        self._sizes: list[IntArray] = []
        self._ids: list[IdArray] = []

    def add(self, text: pl.Series) -> None:
        """Tokenise the next block of messages (String; nulls give empty sets)."""
        n = text.len()
        if n == 0:
            return
        words = _words(self._prepare(text), 0, self._seed)
        new = words.unique(subset="rh", keep="first", maintain_order=True).join(
            self._seen, on="rh", how="anti"
        )
        if new.height:
            self._seen = pl.concat([self._seen, new.select("rh")])
            tokens = _word_tokens(new, self._pre_word, self._pattern, self._seed)
            fresh = (
                tokens.select("h")
                .unique(keep="first", maintain_order=True)
                .join(self._vocab, on="h", how="anti")
            )
            n_ids = self._vocab.height
            self._vocab = pl.concat(
                [
                    self._vocab,
                    fresh.with_columns(
                        pl.int_range(n_ids, n_ids + fresh.height, dtype=pl.Int64).alias("id")
                    ),
                ]
            )
            found = tokens.join(self._vocab, on="h", how="inner", maintain_order="left")
            self._table = pl.concat([self._table, found.select("rh", "id")])
            del tokens, fresh, found
        del new
        block = words.select("m", "rh").join(
            self._table, on="rh", how="inner", maintain_order="left"
        )
        del words
        indptr, ids = _csr_ids(
            block["m"].to_numpy().astype(np.int64), block["id"].to_numpy(), self._vocab.height, n
        )
        self._sizes.append(np.diff(indptr))
        self._ids.append(ids)  # int32 while the vocabulary allows

    def sets(self) -> TokenSets:
        """Return the sets of every message added, in order (the blocks are let go)."""
        sizes = np.concatenate([np.zeros(0, dtype=np.int64), *self._sizes])
        indptr = np.zeros(sizes.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        vocab = self._vocab["h"].to_numpy().astype(np.uint64)
        dtype = np.int32 if vocab.shape[0] < 2**31 else np.int64
        ids = np.concatenate([np.zeros(0, dtype=dtype), *self._ids], dtype=dtype)
        self._sizes, self._ids = [], []
        return TokenSets(indptr, cast("IdArray", ids), vocab)


def _tokenizer(
    *, keep_punctuation: bool, remove_urls: bool, remove_mentions: bool, tokenizer: str
) -> tuple[Callable[[pl.Series], pl.Series], pl.Expr, str]:
    """Return how texts are prepared, how a word is normalised, and the token pattern."""
    if tokenizer == "toolkit":

        def toolkit(t: pl.Series) -> pl.Series:
            return t.cast(pl.String).str.to_lowercase().str.replace_all(r"@\S*", "")

        return toolkit, pl.col("raw"), TOKEN_PATTERN

    def prepare(t: pl.Series) -> pl.Series:
        strip = _strip_urls_mentions(pl.lit(t.cast(pl.String)), remove_urls, remove_mentions)
        return pl.select(strip).to_series()

    pre_word = pl.col("raw").str.normalize("NFKC").str.to_lowercase()
    return prepare, pre_word, TOKEN_PATTERN if keep_punctuation else WORD_PATTERN


def _words(pre: pl.Series, start: int, seed: int) -> pl.DataFrame:
    """``m, raw, rh``: every space-separated word of the messages (``m`` from ``start``)."""
    return (
        pl.DataFrame({"raw": pre})
        .with_row_index("m", offset=start)
        .select("m", pl.col("raw").str.split(" "))
        .explode("raw", keep_nulls=False, empty_as_null=False)
        .filter(pl.col("raw").is_not_null() & (pl.col("raw") != ""))
        .with_columns(pl.col("raw").hash(seed + 1).alias("rh"))
    )


def _word_tokens(words: pl.DataFrame, pre_word: pl.Expr, pattern: str, seed: int) -> pl.DataFrame:
    """``rh, h``: the token hashes of each distinct word of ``words`` (split once each)."""
    return (
        words.unique(subset="rh", keep="first", maintain_order=True)
        .select("rh", pre_word.str.extract_all(pattern).alias("tok"))
        .explode("tok", keep_nulls=False, empty_as_null=False)
        .filter(pl.col("tok").is_not_null())
        .select("rh", pl.col("tok").hash(seed).alias("h"))
    )


def _strip_urls_mentions(text: pl.Expr, urls: bool, mentions: bool) -> pl.Expr:
    if urls:
        text = text.str.replace_all(_URL, " ")
    if mentions:
        text = text.str.replace_all(_MENTION, " ")
    return text


def _ngrams(m: IntArray, h: UIntArray, n: int) -> tuple[IntArray, UIntArray]:
    """Combine each run of ``n`` consecutive unit hashes of a message into one hash.

    A message of fewer than ``n`` units gives one hash of all its units.
    """
    total = m.shape[0]
    if total == 0:
        return m, h
    with np.errstate(over="ignore"):
        g = h.copy()
        valid = np.ones(total, dtype=bool)
        for k in range(1, n):
            nxt = np.zeros(total, dtype=np.uint64)
            nxt[:-k] = h[k:]
            same = np.zeros(total, dtype=bool)
            same[:-k] = m[k:] == m[:-k]
            valid &= same
            g = (g * np.uint64(0x100000001B3)) ^ np.where(same, nxt, np.uint64(0))
            g ^= g >> np.uint64(31)
        # short messages: the combination of all their units (the running value at the start)
        starts = np.flatnonzero(np.r_[True, m[1:] != m[:-1]])
        count = np.diff(np.r_[starts, total])
        short = starts[count < n]
        keep = valid.copy()
        keep[short] = True
    return m[keep], g[keep]


def _csr(m: IntArray, h: UIntArray, n: int) -> TokenSets:
    """Build sets from (message, hash) rows: dense ids, sorted and unique within each set."""
    if h.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return TokenSets(np.zeros(n + 1, dtype=np.int64), empty, empty.astype(np.uint64))
    vocab = pl.Series("h", h).unique().sort().to_numpy().astype(np.uint64)
    indptr, ids = _csr_ids(m, np.searchsorted(vocab, h).astype(np.int64), vocab.shape[0], n)
    return TokenSets(indptr, ids, vocab)


def _csr_ids(
    m: IntArray, ids: npt.NDArray[np.integer], n_ids: int, n: int
) -> tuple[IntArray, IdArray]:
    """Return ``indptr, ids`` of the sets of ``n`` messages from (message, id) rows.

    Ids below ``n_ids``, sorted and unique within each set; rows in any order.
    """
    indptr = np.zeros(n + 1, dtype=np.int64)
    width = np.int64(max(1, n_ids))
    key = pl.Series("k", m * width + ids.astype(np.int64)).sort().to_numpy()
    if key.shape[0] > 1:
        key = key[np.r_[True, key[1:] != key[:-1]]]
    owner = key // width
    np.cumsum(np.bincount(owner, minlength=n), out=indptr[1:])
    return indptr, _narrow(key % width, n_ids)


def _by_frequency(sets: TokenSets) -> TokenSets:
    """Renumber the ids rarest first (ties by hash), sorted in each set: the same sets."""
    if sets.ids.shape[0] == 0:
        return sets
    counts = np.bincount(sets.ids, minlength=sets.n_ids)
    order = np.lexsort((sets.vocab, counts))
    rank = np.empty(sets.n_ids, dtype=np.int64)
    rank[order] = np.arange(sets.n_ids, dtype=np.int64)
    owner = np.repeat(np.arange(sets.indptr.shape[0] - 1, dtype=np.int64), sets.sizes)
    key = np.sort(owner * np.int64(sets.n_ids) + rank[sets.ids])
    return TokenSets(
        sets.indptr, _narrow(key % np.int64(sets.n_ids), sets.n_ids), sets.vocab[order]
    )


def _narrow(ids: IntArray, n_ids: int) -> IdArray:
    """Return shingle numbers as int32 when ``n_ids`` allows it (int64 otherwise)."""
    return ids.astype(np.int32) if n_ids < 2**31 else ids


def lsh_probability(
    similarity: float | npt.ArrayLike, *, bands: int, rows: int
) -> npt.NDArray[np.float64]:
    """Probability that a pair of Jaccard ``similarity`` becomes an LSH candidate.

    ``1 − (1 − s^rows)^bands`` (the S-curve of banded MinHash).
    """
    s = np.asarray(similarity, dtype=np.float64)
    return np.asarray(1.0 - (1.0 - s**rows) ** bands, dtype=np.float64)


def jaccard_pairs(
    sets: TokenSets,
    *,
    threshold: float,
    ts: IntArray | None = None,
    window: int | None = None,
    max_pairs: int = _CHUNK_PAIRS,
) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
    """Every pair of sets with Jaccard ``>= threshold``, exactly (prefix filtering).

    Parameters
    ----------
    sets : TokenSets
        The sets; empty sets never match.
    threshold : float
        ``t`` in ``(0, 1]``; pairs with ``|A ∩ B| / |A ∪ B| >= t`` (float64 division, as
        Python computes it) are returned.
    ts : ndarray of int64, optional
        A time per set (any unit); with ``window``, only pairs with ``|ts_i − ts_j| <=
        window`` (inclusive) are returned.
    window : int, optional
        The window in the unit of ``ts``.
    max_pairs : int
        Candidate pairs materialised at once.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        ``i < j`` (set numbers) and their Jaccard index, sorted by ``(i, j)``.

    Notes
    -----
    Two sets with ``J(A, B) >= t`` share at least ``ceil(t·|A|)`` elements, so they share
    one of the first ``|A| − ceil(t·|A|) + 1`` elements of ``A`` in any fixed global order
    (the prefix; rarest elements first keeps the candidate lists short). Candidates are
    the pairs sharing a prefix element (a sorted band join on the element, within the
    window when there is one), filtered by size (``min/max >= t``) and checked exactly.
    Cost ``O(N log N + C·L)`` for ``N`` prefix elements, ``C`` candidate pairs and ``L``
    elements a set.
    """
    sets = _by_frequency(sets)
    n = sets.indptr.shape[0] - 1
    size = sets.sizes
    need = np.ceil(threshold * size - 1e-9).astype(np.int64)  # a longer prefix is safe
    prefix = np.where(size > 0, np.minimum(size - np.maximum(need, 1) + 1, size), 0)
    owner = np.repeat(np.arange(n, dtype=np.int64), prefix)
    pos = _ranges(sets.indptr[:-1], prefix)
    key = sets.ids[pos].astype(np.int64)
    time = (
        np.zeros(owner.shape[0], dtype=np.int64)
        if ts is None
        else np.asarray(ts, dtype=np.int64)[owner]
    )
    order = np.lexsort((owner, time, key))
    key, time, owner = key[order], time[order], owner[order]
    band = 0 if ts is None or window is None else int(window)
    found: list[IntArray] = []
    for ii, jj in band_pairs(key, time, band, max_pairs=max_pairs):
        a = owner[ii]
        b = owner[jj]
        lo = np.minimum(a, b)
        hi = np.maximum(a, b)
        small = np.minimum(size[lo], size[hi])
        big = np.maximum(size[lo], size[hi])
        keep = (lo != hi) & (small >= threshold * big - 1e-9)
        found.append(np.unique(lo[keep] * n + hi[keep]))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float64)
    codes = np.unique(np.concatenate(found))
    i = codes // n
    j = codes % n
    jac = _jaccard(sets, i, j)
    ok = jac >= threshold
    return i[ok], j[ok], jac[ok]


def near_duplicate_groups(
    texts: pl.Series | pl.DataFrame,
    *,
    threshold: float = 0.8,
    shingle: ShingleKind = "word",
    ngram: int = 1,
    min_shingles: int = 5,
    keep_punctuation: bool = False,
    remove_urls: bool = True,
    remove_mentions: bool = True,
    method: Method = "minhash",
    bands: int = DEFAULT_BANDS,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
) -> pl.Series:
    """Near-duplicate group of each message (see the module docstring).

    Parameters
    ----------
    texts : polars.Series or polars.DataFrame
        Message texts (String; nulls allowed), or canonical events (their ``text``).
    threshold : float, default 0.8
        ``t`` in ``(0, 1]``: messages are near duplicates when the Jaccard index of their
        shingle sets is ``>= t`` (inclusive); groups are the connected components.
    shingle : {"word", "char"}, default "word"
        Word or character shingles (:func:`shingles`).
    ngram : int, default 1
        Shingle length in words or characters. Word unigrams (token sets) are what
        coordination-network-toolkit compares; character 4- or 5-grams suit scripts
        written without spaces (Thai, Lao, Khmer) and typo-level edits.
    min_shingles : int, default 5
        Messages with fewer distinct shingles get no group.
    keep_punctuation : bool, default False
        Keep punctuation-only tokens as word shingles.
    remove_urls, remove_mentions : bool, default True
        Text normalisation (:func:`similarity_text`).
    method : {"minhash", "exact"}, default "minhash"
        MinHash + LSH + exact check, or every pair by prefix filtering (exact, slower on
        large inputs with short, common-word messages).
    bands, rows : int, default 12, 5
        LSH parameters (``minhash``): ``bands·rows`` hash functions.
    seed : int, default 0
        Seed of the shingle hashes (results are deterministic for a seed).

    Returns
    -------
    polars.Series
        ``group`` (Int64): for messages in a group of two or more, the row number of the
        group's first message; null for the others.

    Raises
    ------
    ParameterError
        A parameter out of range or unknown.
    """
    _check(threshold, shingle, ngram, min_shingles, method, bands, rows)
    text = texts[TEXT] if isinstance(texts, pl.DataFrame) else texts
    n = text.len()
    sets = token_sets(
        text,
        kind=shingle,
        ngram=ngram,
        keep_punctuation=keep_punctuation,
        remove_urls=remove_urls,
        remove_mentions=remove_mentions,
        seed=seed,
    )
    del texts, text  # the texts go as soon as they are tokenised, when the caller let go
    owned = _Owned(sets)
    del sets
    return _first_member(_groups(owned, threshold, min_shingles, method, bands, rows), n)


def similar_actions(
    events: EventFrame,
    *,
    threshold: float = 0.8,
    min_shingles: int = 5,
    text_kinds: tuple[str, ...] = TEXT_KINDS,
    shingle: ShingleKind = "word",
    ngram: int = 1,
    method: Method = "minhash",
    seed: int = 0,
) -> pl.DataFrame:
    """``co_similar`` actions: one per message in a near-duplicate group.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events.
    threshold, min_shingles, shingle, ngram, method, seed
        See :func:`near_duplicate_groups` (Jaccard ``>= threshold`` of word token sets by
        default; messages with fewer than ``min_shingles`` distinct words give no action).
    text_kinds : tuple of str
        Kinds whose text counts (reposts and forwards repeat someone else's text: left
        out, as for ``co_text``).

    Returns
    -------
    polars.DataFrame
        :data:`coordscope.signals.actions.ACTION_SCHEMA`, sorted by event; the key is the
        ``event_id`` of the group's first message (in input order), so the group's text
        can be read back. Messages in no group of two or more give no action.
    """
    _check(threshold, shingle, ngram, min_shingles, method, DEFAULT_BANDS, DEFAULT_ROWS)
    if shingle == "word" and ngram == 1:
        event, group = _streamed_groups(
            events,
            threshold=threshold,
            min_shingles=min_shingles,
            text_kinds=text_kinds,
            method=method,
            seed=seed,
        )
    else:
        rows = (
            events.lazy()
            .with_row_index("event")
            .filter(
                pl.col(KIND).cast(pl.String).is_in(list(text_kinds)) & pl.col(TEXT).is_not_null()
            )
            .select("event", TEXT)
            .collect()
        )
        event = rows["event"]
        # the texts are handed over and let go once tokenised (a month of posts: gigabytes)
        group = near_duplicate_groups(
            rows.drop_in_place(TEXT),
            threshold=threshold,
            min_shingles=min_shingles,
            shingle=shingle,
            ngram=ngram,
            method=method,
            seed=seed,
        )
        del rows
    in_group = group.is_not_null()
    first_event = event.gather(group.filter(in_group).cast(pl.UInt32))
    # the ids of the groups' first messages only, read back from the events
    firsts = first_event.unique().implode()
    first_ids = (
        events.lazy()
        .with_row_index("event")
        .filter(pl.col("event").is_in(firsts))
        .select(pl.col("event").alias("first"), pl.col(EVENT_ID).alias("key"))
        .collect()
    )
    keys = (
        pl.DataFrame({"event": event.filter(in_group), "first": first_event})
        .join(first_ids, on="first", how="left", maintain_order="left")
        .select("event", "key")
    )
    return actions_from_keys(events, keys, signal=_SIGNAL)


#: Events read at once by :func:`similar_actions` (their texts are tokenised and let go).
_EVENT_SLICE: Final = 1 << 20


def _streamed_groups(
    events: EventFrame,
    *,
    threshold: float,
    min_shingles: int,
    text_kinds: tuple[str, ...],
    method: Method,
    seed: int,
) -> tuple[pl.Series, pl.Series]:
    """Return the event number and near-duplicate group of every message with text.

    Word-token sets only (:func:`streamed_sets`).
    """
    event, sets = streamed_sets(events, text_kinds=text_kinds, seed=seed)
    owned = _Owned(sets)
    del sets
    labels = _groups(owned, threshold, min_shingles, method, DEFAULT_BANDS, DEFAULT_ROWS)
    return event, _first_member(labels, event.len())


def streamed_sets(
    events: EventFrame, *, text_kinds: tuple[str, ...], seed: int = 0
) -> tuple[pl.Series, TokenSets]:
    """Return the event number (UInt32) and word-token set of every message with text.

    The messages are the events of ``text_kinds`` with a text, in event order. The events
    are read :data:`_EVENT_SLICE` rows at a time (a scan of a Parquet file reads only the
    row groups of a slice) and each slice's texts are tokenised and let go: the texts are
    never all in memory, only their sets.
    """
    lazy = events.lazy()
    n_events = int(lazy.select(pl.len()).collect().item())
    keep = pl.col(KIND).cast(pl.String).is_in(list(text_kinds)) & pl.col(TEXT).is_not_null()
    words = WordSets(seed=seed)
    numbers: list[pl.Series] = []
    for start in range(0, n_events, _EVENT_SLICE):
        part = (
            lazy.slice(start, _EVENT_SLICE)
            .with_row_index("event", offset=start)
            .filter(keep)
            .select("event", TEXT)
            .collect()
        )
        numbers.append(part["event"])
        words.add(part.drop_in_place(TEXT))
        del part
    event = pl.concat(numbers) if numbers else pl.Series("event", [], dtype=pl.UInt32)
    return event, words.sets()


# --------------------------------------------------------------------------------------
# private helpers


def _check(
    threshold: float,
    shingle: str,
    ngram: int,
    min_shingles: int,
    method: str,
    bands: int,
    rows: int,
) -> None:
    if not (isinstance(threshold, int | float) and 0 < threshold <= 1):
        raise ParameterError(f"threshold must be a Jaccard index in (0, 1], got {threshold}")
    if shingle not in SHINGLE_KINDS:
        raise ParameterError(f"shingle must be one of {', '.join(SHINGLE_KINDS)}, got '{shingle}'")
    if not isinstance(ngram, int) or ngram < 1:
        raise ParameterError(f"ngram must be an integer >= 1, got {ngram}")
    if not isinstance(min_shingles, int) or min_shingles < 1:
        raise ParameterError(f"min_shingles must be an integer >= 1, got {min_shingles}")
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got '{method}'")
    if not isinstance(bands, int) or bands < 1 or not isinstance(rows, int) or rows < 1:
        raise ParameterError(f"bands and rows must be integers >= 1, got {bands}, {rows}")


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """``concat(arange(s, s + l) for s, l)`` without a loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    nz = lengths > 0
    s = starts[nz]
    ln = lengths[nz]
    step = np.ones(total, dtype=np.int64)
    heads = np.cumsum(ln)[:-1]
    step[0] = s[0]
    step[heads] = s[1:] - (s[:-1] + ln[:-1] - 1)
    return np.cumsum(step)


def _jaccard(sets: TokenSets, i: IntArray, j: IntArray) -> npt.NDArray[np.float64]:
    """Exact Jaccard index of the set pairs ``(i[k], j[k])`` (float64 division)."""
    out = np.zeros(i.shape[0], dtype=np.float64)
    size = sets.sizes
    width = max(1, sets.n_ids)
    step = max(1, _CHUNK_PAIRS // max(1, int(size.max(initial=1))))
    for lo in range(0, i.shape[0], step):
        a = i[lo : lo + step]
        b = j[lo : lo + step]
        pair = np.arange(a.shape[0], dtype=np.int64)
        left = np.repeat(pair, size[a]) * width + sets.ids[_ranges(sets.indptr[a], size[a])]
        right = np.repeat(pair, size[b]) * width + sets.ids[_ranges(sets.indptr[b], size[b])]
        both = np.concatenate((left, right))
        both.sort()
        dup = both[1:][both[1:] == both[:-1]] // width
        inter = np.bincount(dup, minlength=a.shape[0])
        union = size[a] + size[b] - inter
        out[lo : lo + step] = inter / np.maximum(union, 1)
    return out


def _fingerprints(sets: TokenSets) -> tuple[UIntArray, UIntArray]:
    """Two independent 64-bit sums over each set (equal sets, equal fingerprints)."""
    h = sets.vocab[sets.ids]
    mixed = (h ^ (h >> np.uint64(31))) * np.uint64(0x9E3779B97F4A7C15)
    starts = sets.indptr[:-1]
    nonempty = sets.sizes > 0
    f1 = np.zeros(starts.shape[0], dtype=np.uint64)
    f2 = np.zeros(starts.shape[0], dtype=np.uint64)
    if h.shape[0]:
        f1[nonempty] = np.add.reduceat(h, starts[nonempty])
        f2[nonempty] = np.add.reduceat(mixed, starts[nonempty])
    return f1, f2


@dataclass
class _Owned:
    """Hands a :class:`TokenSets` to :func:`_groups`, which lets it go once it is done."""

    sets: TokenSets | None

    def take(self) -> TokenSets:
        """Return the sets and forget them."""
        if self.sets is None:  # pragma: no cover - a programming error
            raise RuntimeError("internal: token sets taken twice")
        sets, self.sets = self.sets, None
        return sets


def _groups(
    owned: _Owned,
    threshold: float,
    min_shingles: int,
    method: str,
    bands: int,
    rows: int,
) -> IntArray:
    """Component label of each set (-1: no group of two or more).

    The sets are released (``owned.sets = None``) once the distinct ones are copied out:
    what the MinHash stage holds is the distinct sets, not every message's.
    """
    sets = owned.take()
    n = sets.indptr.shape[0] - 1
    size = sets.sizes
    eligible = size >= min_shingles
    labels = np.full(n, -1, dtype=np.int64)
    if not eligible.any():
        return labels
    # merge identical sets: one representative each
    f1, f2 = _fingerprints(sets)
    keys = pl.DataFrame({"f1": f1, "f2": f2, "s": size, "ok": eligible}).with_row_index("m")
    rep_of = (
        keys.filter(pl.col("ok"))
        .with_columns(pl.col("m").min().over("f1", "f2", "s").alias("rep"))
        .select("m", "rep")
    )
    member = rep_of["m"].to_numpy().astype(np.int64)
    rep = rep_of["rep"].to_numpy().astype(np.int64)
    reps = np.unique(rep)
    sub = subset_sets(sets, reps)
    del sets, f1, f2, keys, rep_of
    if method == "exact":
        i, j, _ = jaccard_pairs(sub, threshold=threshold)
    else:
        i, j = _minhash_pairs(sub, threshold, bands, rows)
    r = reps.shape[0]
    graph = sp.coo_array((np.ones(i.shape[0], dtype=np.int8), (i, j)), shape=(r, r)).tocsr()
    _, comp = connected_components(graph, directed=False)
    rep_index = np.searchsorted(reps, rep)
    labels[member] = comp[rep_index]
    counts = np.bincount(labels[member], minlength=r)
    labels[member[counts[labels[member]] < 2]] = -1
    return labels


def subset_sets(sets: TokenSets, which: IntArray) -> TokenSets:
    """Take the sets ``which`` (in that order) as their own :class:`TokenSets`."""
    size = sets.sizes[which]
    indptr = np.zeros(which.shape[0] + 1, dtype=np.int64)
    np.cumsum(size, out=indptr[1:])
    pos = _ranges(sets.indptr[which], size)
    return TokenSets(indptr, sets.ids[pos], sets.vocab)


def _first_member(labels: IntArray, n: int) -> pl.Series:
    """Row number of the first row of each label (null for -1)."""
    frame = pl.DataFrame({"label": labels}).with_row_index("row")
    first = frame.select(
        pl.when(pl.col("label") >= 0)
        .then(pl.col("row").min().over("label").cast(pl.Int64))
        .otherwise(None)
        .alias("group")
    )
    return first.to_series().head(n)


def _multipliers(count: int) -> tuple[UIntArray, UIntArray]:
    rng = np.random.default_rng(_HASH_SEED)
    a = rng.integers(0, 2**63, size=count, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=count, dtype=np.uint64)
    return a, b


def _signatures(
    sets: TokenSets, count: int, functions: range | None = None
) -> npt.NDArray[np.uint32]:
    """MinHash signatures ``(sets, len(functions))`` (uint32), multiply-shift hashing.

    ``functions`` picks which of the ``count`` hash functions (default: all of them), so
    that one band's values can be computed alone. Each distinct shingle is hashed once
    per function (``V`` per function), then gathered and reduced per set with
    ``np.minimum.reduceat``, a block of sets at a time; functions run on every usable
    core. One row per set (what the bucket check reads), written in place: the matrix is
    the only copy (4 bytes a set and function). Every set must be non-empty.
    """
    n = sets.indptr.shape[0] - 1
    uniq = sets.vocab
    inverse = sets.ids
    a, b = _multipliers(count)
    which = range(count) if functions is None else functions
    sig = np.empty((n, len(which)), dtype=np.uint32)

    def one(col: int) -> None:
        k = which[col]
        with np.errstate(over="ignore"):
            table = ((uniq * a[k] + b[k]) >> np.uint64(32)).astype(np.uint32)
        for lo in range(0, n, _SIGNATURE_BLOCK):  # the gathered shingles of a block only
            hi = min(n, lo + _SIGNATURE_BLOCK)
            first, last = sets.indptr[lo], sets.indptr[hi]
            sig[lo:hi, col] = np.minimum.reduceat(
                table[inverse[first:last]], sets.indptr[lo:hi] - first
            )

    with thread_pool(min(len(which), usable_cores())) as pool:
        list(pool.map(one, range(len(which))))
    return sig


#: Sets whose shingles are gathered at once per hash function (:func:`_signatures`).
_SIGNATURE_BLOCK: Final = 1 << 20


def _band_keys(sig: npt.NDArray[np.uint32], band: int, rows: int) -> UIntArray:
    """Hash each set's ``rows`` signature values of one band into a 64-bit bucket key."""
    return _band_key(sig[:, band * rows : (band + 1) * rows], band)


def _band_key(values: npt.NDArray[np.uint32], band: int) -> UIntArray:
    """Hash each row of ``values`` (a band's signature values of every set) into a key."""
    rows = int(values.shape[1])
    rng = np.random.default_rng(_HASH_SEED + 1 + band)
    mult: UIntArray = rng.integers(0, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(
        1
    )
    with np.errstate(over="ignore"):  # in place: two arrays of 8 bytes a set
        key = np.full(values.shape[0], np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15))
        column = np.empty(values.shape[0], dtype=np.uint64)
        for k in range(rows):
            column[:] = values[:, k]
            key ^= column
            key *= mult[k]
            np.right_shift(key, np.uint64(29), out=column)
            key ^= column
    return key


def _bucketed(sets: TokenSets, bands: int, rows: int) -> IntArray:
    """Return the sets that share a bucket with another set in at least one band.

    A band at a time, its values computed and let go (``12 + 4·rows`` bytes a set): the
    full signatures are needed only for these sets, which the buckets' pairs are all
    among. Ascending set numbers.
    """
    n = sets.indptr.shape[0] - 1
    count = bands * rows

    shared = np.zeros(n, dtype=bool)
    for band in range(bands):  # one band at a time; its functions on every core
        values = _signatures(sets, count, range(band * rows, (band + 1) * rows))
        key = _band_key(values, band)
        del values
        shared |= pl.Series(key).is_duplicated().to_numpy()
        del key
    return np.flatnonzero(shared)


def _band_runs(key: UIntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Group the sets that share their band key with another: ``(order, starts, ends)``.

    ``order[starts[r]:ends[r]]`` are the sets of the ``r``-th bucket (two or more sets with
    one key), in increasing set number.
    """
    n = key.shape[0]
    order = np.argsort(key, kind="stable")  # equal keys: ascending set numbers
    ordered = key[order]
    same = ordered[1:] == ordered[:-1]
    member = np.zeros(n, dtype=bool)  # in a run of two or more equal keys
    member[1:] |= same
    member[:-1] |= same
    del same
    order, ordered = order[member], ordered[member]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if n else order[:0]
    ends = np.r_[starts[1:], ordered.shape[0]].astype(np.int64)
    return order.astype(np.int64), starts.astype(np.int64), ends


@jit
def _verify_buckets(
    order: IntArray,
    starts: IntArray,
    ends: IntArray,
    sig: npt.NDArray[np.uint32],
    size: IntArray,
    band: int,
    rows: int,
    least: int,
    threshold: float,
    indptr: IntArray,
    ids: IdArray,
    sketch: UIntArray,
    split: int,
) -> tuple[IntArray, IntArray]:
    """Return verified pairs of one band's buckets: enough of them to connect the same sets.

    With ``split > 0``, only pairs of one set below ``split`` and one at or above it are
    checked (a new day's sets against an earlier day's: :mod:`coordscope.signals.similar_days`).

    A pair is *verified* when the first band on which its signatures agree on every row
    is ``band`` (so that no pair is verified by two bands, and a mere collision of band
    keys is never a candidate), ``min/max`` of its set sizes is at least ``threshold``,
    its signatures (``sig``: one row per set) agree on at least ``least`` values
    (comparing stops as soon as too many differ) and the exact Jaccard index of its sets
    (``ids[indptr[m]:indptr[m + 1]]``, ascending) is at least ``threshold``.

    Only the components of the verified pairs matter (near-duplicate groups are
    connected components): a union-find over the sets skips every pair whose two sets
    are connected already by the pairs reported before it, and reports a verified pair
    only when it joins two components. The reported pairs therefore connect exactly the
    sets that all the verified pairs of the band connect (a spanning forest), and a
    bucket of ``K`` near copies costs ``K²/2`` lookups rather than ``K²/2`` signature
    comparisons. Cost: ``Σ K²/2`` pairs for buckets of ``K`` sets, each ``O(1)`` when
    skipped and ``O(bands·rows + L)`` at worst (``L`` shingles a set); memory: the
    union-find (8 bytes a set) and the pairs reported.

    Most pairs of a large bucket are not near duplicates, and ruling one out took some
    30 comparisons of signature values (it takes ``bands·rows − least`` differences).
    ``sketch`` (:func:`_sketches`) holds the last two bits of each set's values; values
    that agree have equal bits, so fewer than ``least`` equal pairs of bits rule the pair
    out first, in a few word operations: exact, the same pairs pass.
    """
    count = sig.shape[1]
    pad = sketch.shape[1] * 32 - count  # fields of the last word that hold no value
    bands = count // rows
    slack = count - least
    parent = np.arange(sig.shape[0])
    cap = 1024
    lo = np.empty(cap, np.int64)
    hi = np.empty(cap, np.int64)
    found = 0
    for r in range(starts.shape[0]):
        for p in range(starts[r], ends[r] - 1):
            a = order[p]
            for q in range(p + 1, ends[r]):
                b = order[q]
                if split > 0 and (b < split or a >= split):  # both on one side
                    continue
                root_a = _find(parent, a)
                root_b = _find(parent, b)
                if root_a == root_b:
                    continue
                if min(size[a], size[b]) < threshold * max(size[a], size[b]) - 1e-9:
                    continue
                # values that agree agree on their last two bits: too few agreeing pairs
                # of bits rule the pair out without reading the signatures
                agree = -pad
                for w in range(sketch.shape[1]):
                    x = sketch[a, w] ^ sketch[b, w]
                    x = ~(x | (x >> np.uint64(1))) & np.uint64(0x5555555555555555)
                    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
                    x = (x & np.uint64(0x3333333333333333)) + (
                        (x >> np.uint64(2)) & np.uint64(0x3333333333333333)
                    )
                    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
                    agree += np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))
                if agree < least:
                    continue
                differ = 0
                first = -1
                keep = True
                for g in range(bands):
                    whole = True
                    for t in range(g * rows, (g + 1) * rows):
                        if sig[a, t] != sig[b, t]:
                            whole = False
                            differ += 1
                    if whole and first < 0:
                        first = g
                    if differ > slack or (g == band and first != band):
                        keep = False
                        break
                if not keep:
                    continue
                # the exact Jaccard index: a merge of the two ascending id lists
                i, i_end = indptr[a], indptr[a + 1]
                j, j_end = indptr[b], indptr[b + 1]
                inter = 0
                while i < i_end and j < j_end:
                    if ids[i] == ids[j]:
                        inter += 1
                        i += 1
                        j += 1
                    elif ids[i] < ids[j]:
                        i += 1
                    else:
                        j += 1
                union = (indptr[a + 1] - indptr[a]) + (indptr[b + 1] - indptr[b]) - inter
                if inter / max(union, 1) < threshold:
                    continue
                parent[root_a] = root_b
                if found == cap:
                    cap *= 2
                    grown_lo = np.empty(cap, np.int64)
                    grown_hi = np.empty(cap, np.int64)
                    grown_lo[:found] = lo[:found]
                    grown_hi[:found] = hi[:found]
                    lo = grown_lo
                    hi = grown_hi
                lo[found] = min(a, b)
                hi[found] = max(a, b)
                found += 1
    return lo[:found], hi[:found]


def _sketches(sig: npt.NDArray[np.uint32]) -> UIntArray:
    """Pack the last two bits of every signature value, 32 values to a 64-bit word.

    Returns ``(sets, ceil(values / 32))`` uint64; value ``c`` of a set is in bits
    ``2(c mod 32)`` and ``2(c mod 32) + 1`` of word ``c // 32``; unused fields are 0.
    16 bytes a set for 60 values (:func:`_verify_buckets` reads them first).
    """
    n, count = sig.shape
    out = np.zeros((n, -(-count // 32)), dtype=np.uint64)
    for c in range(count):  # a few dozen columns
        out[:, c // 32] |= (sig[:, c] & np.uint32(3)).astype(np.uint64) << np.uint64(2 * (c % 32))
    return out


@jit
def _find(parent: IntArray, x: int) -> int:
    """Return the root of ``x`` in the union-find ``parent``, halving the path on the way."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _minhash_pairs(
    sets: TokenSets, threshold: float, bands: int, rows: int
) -> tuple[IntArray, IntArray]:
    """Return verified pairs ``J >= threshold`` among the LSH candidates.

    Enough of them to connect the same sets as all the verified pairs (per band, a
    spanning forest: :func:`_verify_buckets`), which is all the groups need. The sets
    that share no bucket with another in any band (most messages) cannot be in a pair:
    their signatures are computed one band at a time and let go (:func:`_bucketed`), and
    the full signatures are kept only for the others. Each band's buckets are checked by
    :func:`_verify_buckets` (bands on every usable core), size, signatures and exact
    Jaccard index, so memory follows the pairs reported, not the candidates (which grow
    with the square of a bucket's size). Sorted by ``(i, j)``.
    """
    some = _bucketed(sets, bands, rows)
    if some.shape[0] < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if 2 * some.shape[0] > sets.indptr.shape[0] - 1:
        # most sets share a bucket (short texts from a small vocabulary): a copy of them
        # would cost more than the signatures it saves
        return _bucket_pairs(sets, threshold, bands, rows)
    i, j = _bucket_pairs(subset_sets(sets, some), threshold, bands, rows)
    return some[i], some[j]  # increasing: the order of the pairs is kept


def _bucket_pairs(
    sets: TokenSets,
    threshold: float,
    bands: int,
    rows: int,
    *,
    signatures: npt.NDArray[np.uint32] | None = None,
    split: int = 0,
) -> tuple[IntArray, IntArray]:
    """:func:`_minhash_pairs` on every set given, with all their signatures held.

    ``signatures``: the sets' MinHash signatures when the caller has them already;
    ``split``: see :func:`_verify_buckets` (0: every pair).
    """
    r = sets.indptr.shape[0] - 1
    count = bands * rows
    # one row of ``count`` values per set
    by_set = _signatures(sets, count) if signatures is None else signatures
    sketch = _sketches(by_set)
    size = sets.sizes
    sigma = math.sqrt(threshold * (1 - threshold) / count)
    least = max(1, math.floor((threshold - 4 * sigma) * count))

    one_at_a_time = threading.Lock()

    def one(band: int) -> IntArray:  # a band's keys only while its buckets are checked
        with one_at_a_time:  # the sort's temporaries (~30 bytes a set) once, not per thread
            order, starts, ends = _band_runs(_band_keys(by_set, band, rows))
        lo, hi = _verify_buckets(
            order, starts, ends, by_set, size, band, rows, least, threshold, sets.indptr, sets.ids,
            sketch, split,
        )  # fmt: skip
        code: IntArray = lo * r + hi
        return code

    with thread_pool(min(bands, usable_cores())) as pool:
        codes = np.sort(np.concatenate([np.zeros(0, np.int64), *pool.map(one, range(bands))]))
    return codes // r, codes % r
