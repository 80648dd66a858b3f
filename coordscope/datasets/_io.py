"""Opening input files: streamed decompression, blocks of whole records, heads, hashing.

Compressed inputs (``.gz``, ``.zst``) are recognised by their magic bytes, not their
name, and decompressed as a stream: readers take a file in blocks of about
:attr:`ReadLimits.piece_bytes` decompressed bytes that end at a record boundary
(:func:`iter_blocks`), so what they hold at once follows the memory budget, not the size
of the file. Only formats that are one JSON document (Telegram exports, JSON arrays) are
read whole (:func:`read_document`).

Every decompressing read is guarded against decompression bombs: when a file has
inflated to more than :data:`INFLATE_FLOOR` bytes *and* to more than ``max_inflate``
times its size on disk, reading stops with an :class:`~coordscope.errors.InputError`
naming the file. Real exports compress 5-15× (gzip) and rarely beyond 30×, so the default
ratio, :data:`DEFAULT_MAX_INFLATE`, lets them through; a file of zeros or newlines
compresses about 1000×. A truncated or corrupt archive is an
:class:`~coordscope.errors.InputError` naming the file too.
"""

from __future__ import annotations

import gzip
import hashlib
import queue
import re
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Protocol, TypeVar

import numpy as np
import zstandard

from coordscope.budget import DEFAULT_MEMORY, Budget
from coordscope.errors import InputError, ParameterError
from coordscope.progress import current

__all__ = [
    "DEFAULT_MAX_INFLATE",
    "INFLATE_FLOOR",
    "ReadLimits",
    "compression_of",
    "file_sha256",
    "head_bytes",
    "head_text",
    "is_compressed",
    "iter_blocks",
    "mark_invalid_utf8",
    "read_ahead",
    "read_document",
    "record_ends",
    "strip_bom",
]

_T = TypeVar("_T")

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_BOM: Final = b"\xef\xbb\xbf"
_NEWLINE: Final = ord("\n")

#: Default limit of decompressed bytes over compressed bytes (see the module docstring).
DEFAULT_MAX_INFLATE: Final = 100.0

#: Decompressed bytes a file may always reach, whatever its ratio (256 MiB): small, very
#: repetitive files are fine.
INFLATE_FLOOR: Final = 256 * 2**20

#: A piece is this share of the memory budget: a reader holds a few copies of one piece
#: at once (raw bytes, the parsed table, the staged and the finalised rows).
_PIECE_SHARE: Final = 128
_MIN_PIECE: Final = 64 * 2**10
_MAX_PIECE: Final = 64 * 2**20
#: A record (a line, or a CSV row with quoted newlines) may be this many pieces long.
_RECORD_PIECES: Final = 8
#: A block holds at most one line per this many bytes of a piece.
_BYTES_PER_LINE: Final = 32


@dataclass(frozen=True)
class ReadLimits:
    """How much of a file a reader takes in at once, and how far a file may inflate.

    Attributes
    ----------
    piece_bytes : int
        Decompressed bytes read at once (a block of whole records); default sized from
        the default 4 GiB budget (32 MiB).
    max_inflate : float or None
        Largest ratio of decompressed to compressed bytes beyond ``inflate_floor``
        (None or 0: no limit).
    inflate_floor : int
        Decompressed bytes a file may always reach (:data:`INFLATE_FLOOR`).
    max_record_bytes : int
        The longest record accepted, bytes; 0 (the default) means 8 pieces.
    """

    piece_bytes: int = DEFAULT_MEMORY // _PIECE_SHARE
    max_inflate: float | None = DEFAULT_MAX_INFLATE
    inflate_floor: int = INFLATE_FLOOR
    max_record_bytes: int = 0

    def __post_init__(self) -> None:
        """Check the values; ``max_inflate = 0`` means no limit, as None does."""
        if self.piece_bytes < 1:
            raise ParameterError(f"piece_bytes must be >= 1, got {self.piece_bytes}")
        if self.max_record_bytes <= 0:
            object.__setattr__(self, "max_record_bytes", _RECORD_PIECES * self.piece_bytes)
        limit = self.max_inflate
        if limit is None:
            return
        if (
            isinstance(limit, bool)
            or not isinstance(limit, (int, float))
            or not (limit == 0 or limit >= 1)
        ):
            raise ParameterError(
                f"max_inflate must be a ratio >= 1, or 0 for no limit, got {limit!r}"
            )
        if limit == 0:
            object.__setattr__(self, "max_inflate", None)

    @classmethod
    def of(
        cls,
        memory: str | int | None = None,
        *,
        max_inflate: float | None = DEFAULT_MAX_INFLATE,
    ) -> ReadLimits:
        """Size the pieces from a memory budget.

        Parameters
        ----------
        memory : str or int, optional
            The run's memory budget (``"4GB"``, bytes; see
            :func:`coordscope.budget.parse_memory`); default 4 GiB.
        max_inflate : float or None, default 100
            See :attr:`max_inflate`.

        Returns
        -------
        ReadLimits
            Pieces of 1/128 of the budget, between 64 KiB and 64 MiB (512 KiB for the
            smallest budget, 8 MiB for 1 GiB, 32 MiB for 4 GiB).

        Raises
        ------
        ParameterError
            ``memory`` is not a size of at least 64 MB, or ``max_inflate`` is neither 0
            nor a ratio of at least 1.
        """
        budget = Budget.of(memory)
        piece = min(_MAX_PIECE, max(_MIN_PIECE, budget.memory // _PIECE_SHARE))
        return cls(piece_bytes=piece, max_inflate=max_inflate)

    @property
    def max_lines(self) -> int:
        """Most lines in a block: one per 32 bytes of a piece.

        Readers hold a few dozen bytes per line besides the text, so short lines (a
        flood of blank lines) must not make a piece larger than its bytes say.
        """
        return max(1, self.piece_bytes // _BYTES_PER_LINE)


def _check_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(path, "no such file")
    if p.is_dir():
        raise InputError(path, "is a directory, not a file")
    return p


def compression_of(path: str) -> str | None:
    """Return ``"gzip"``, ``"zstd"`` or ``None`` from the file's first bytes."""
    p = _check_file(path)
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic.startswith(_ZSTD_MAGIC):
        return "zstd"
    return None


def is_compressed(path: str) -> bool:
    """Tell whether the file is gzip or zstd compressed (by content)."""
    return compression_of(path) is not None


class _Stream(Protocol):
    """What is read of a (decompressing) file: ``read(size)``."""

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes; empty at the end."""
        ...


@contextmanager
def _decompressed(path: str) -> Iterator[tuple[_Stream, str | None, BinaryIO]]:
    """Open ``path`` for reading its decompressed bytes; yields the stream and its codec.

    Also yields the file itself, whose position says how much of it is read.

    Errors of the codec while reading are the caller's to translate (see :func:`_chunks`).
    """
    p = _check_file(path)
    kind = compression_of(path)
    with p.open("rb") as raw:
        if kind == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
                yield fh, kind, raw
        elif kind == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            with reader:
                yield reader, kind, raw
        else:
            yield raw, kind, raw


def _chunks(path: str, limits: ReadLimits) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``path`` in chunks of a piece (the last shorter).

    Raises
    ------
    InputError
        A corrupt or truncated archive, or one that inflates beyond the guard.
    """
    stored = Path(path).stat().st_size
    ratio = limits.max_inflate
    total = 0
    kind: str | None = None
    progress = current()  # the file's task, when an ingest tracks it (bytes of the file)
    if progress is not None and progress.unit != "bytes":
        progress = None
    try:
        with _decompressed(path) as (stream, kind, raw):
            limit = None if kind is None or ratio is None else ratio * max(stored, 1)
            while True:
                chunk = _read_full(stream, limits.piece_bytes)
                if not chunk:
                    return
                total += len(chunk)
                if limit is not None and total > limits.inflate_floor and total > limit:
                    raise InputError(path, _bomb_message(total, stored, ratio))
                if progress is not None:
                    progress.update(raw.tell())
                yield chunk
    except (EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:
        raise InputError(path, f"corrupt or truncated {kind} file ({exc})") from None


def _read_full(stream: _Stream, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at the end (decoders may return short reads)."""
    first = stream.read(size)
    if len(first) in (0, size):
        return first
    parts = [first]
    have = len(first)
    while have < size:
        more = stream.read(size - have)
        if not more:
            break
        parts.append(more)
        have += len(more)
    return b"".join(parts)


def _bomb_message(total: int, stored: int, ratio: float | None) -> str:
    return (
        f"decompresses to more than {ratio:g}x its size ({total / 2**20:,.0f} MiB so far from "
        f"{stored / 2**20:,.2f} MiB): stopped as a likely decompression bomb; if the file is "
        "genuine, raise the limit with --max-inflate (max_inflate= in Python)"
    )


def read_document(path: str, *, limits: ReadLimits | None = None) -> bytes:
    """Read a whole file, decompressed and without a BOM (for one-document formats).

    Cost ``O(size)`` memory and time: only for formats that cannot be read in pieces
    (a Telegram export, a JSON array). Decompression is guarded as everywhere.

    Raises
    ------
    InputError
        Missing file, a truncated/corrupt archive, or a decompression bomb.
    """
    limits = limits or ReadLimits()
    data = b"".join(_chunks(path, limits))
    return strip_bom(data)


def iter_blocks(
    path: str, *, limits: ReadLimits | None = None, quote: bytes | None = None
) -> Iterator[bytes]:
    """Yield the decompressed content of ``path`` in blocks of whole records.

    Each block but the last ends with the newline that ends its last record, and holds
    about ``limits.piece_bytes`` bytes (more when one record is longer) and at most
    ``limits.max_lines`` lines (unless one record has more); the first has no
    byte-order mark. Concatenated, the blocks are the file's content.

    Parameters
    ----------
    path : str
        The file (plain, gzip or zstd).
    limits : ReadLimits, optional
        Block size and decompression guard.
    quote : bytes, optional
        CSV quote character: a newline ends a record only outside quotes (an even number
        of quote characters before it, as RFC 4180 escapes quotes by doubling them).
        Without it every newline ends a record (JSON lines).

    Raises
    ------
    InputError
        A record longer than ``limits.max_record_bytes`` (names its first line), and the
        errors of decompression (see the module docstring).
    """
    limits = limits or ReadLimits()
    carry = b""
    pending: list[bytes] = []  # chunks without a newline, joined once one comes
    lines = 0  # newlines before ``carry``
    first = True
    for chunk in _chunks(path, limits):
        if carry and b"\n" not in chunk:
            pending.append(chunk)
            if len(carry) + sum(map(len, pending)) > limits.max_record_bytes:
                raise _too_long(path, limits, lines)
            continue
        data = b"".join([carry, *pending, chunk])
        pending.clear()
        if first:
            if len(data) < len(_BOM) and _BOM.startswith(data):
                carry = data  # too short to tell yet
                continue
            data = strip_bom(data)
            first = False
        pos = 0
        while True:  # a loop over blocks: several only when lines are very short
            cut, newlines = _block_end(data, pos, quote, limits.max_lines)
            if cut == pos:
                break
            lines += newlines
            yield data[pos:cut]
            pos = cut
        carry = data[pos:]
        if len(carry) > limits.max_record_bytes:
            raise _too_long(path, limits, lines)
    carry = b"".join([carry, *pending])
    if carry:
        yield strip_bom(carry) if first else carry


def _too_long(path: str, limits: ReadLimits, lines: int) -> InputError:
    return InputError(
        path,
        f"a record longer than {limits.max_record_bytes / 2**20:,.1f} MiB starts on line "
        f"{lines + 1}: not a file of records; a larger --memory allows longer records",
    )


def _block_end(data: bytes, start: int, quote: bytes | None, max_lines: int) -> tuple[int, int]:
    """End (exclusive) of the block of whole records from ``start``, and its newlines.

    The block ends after the last record of ``data``, or after the last record within
    the first ``max_lines`` lines when there are more; ``(start, 0)`` when no record
    ends in ``data``.
    """
    end = _last_record_end(data, quote, start, len(data))
    newlines = data.count(b"\n", start, end)
    if newlines > max_lines:
        limited = _last_record_end(data, quote, start, _nth_newline(data, start, max_lines) + 1)
        if limited > start:
            return limited, data.count(b"\n", start, limited)
    return end, newlines


def _nth_newline(data: bytes, start: int, n: int) -> int:
    """Index of the ``n``-th newline (1-based) after ``start``; there must be that many.

    Newlines are counted a window at a time with ``bytes.count`` (C speed, no memory);
    only the window holding the one sought is looked at with numpy.
    """
    window = 1 << 20
    seen = 0
    lo = start
    while True:
        hi = min(len(data), lo + window)
        count = data.count(b"\n", lo, hi)
        if seen + count >= n:
            arr = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo)
            return lo + int(np.flatnonzero(arr == _NEWLINE)[n - seen - 1])
        seen += count
        lo = hi


def _last_record_end(data: bytes, quote: bytes | None, start: int, end: int) -> int:
    """Index just past the last newline of ``data[start:end]`` that ends a record.

    ``start`` is the start of a record; returns ``start`` when no newline there ends one.
    With a quote character, a newline ends a record when an even number of quotes come
    before it (from ``start``). The quotes are counted with ``bytes.count`` (C speed) and
    the newlines near the end looked at in windows that double, vectorized:
    ``O(end - start)``.
    """
    last = data.rfind(b"\n", start, end)
    if last < 0:
        return start
    if quote is None or data.count(quote, start, last) % 2 == 0:
        return last + 1
    window = 1 << 16
    hi = last
    while hi > start:
        lo = max(start, hi - window)
        before = data.count(quote, start, lo)
        ends = record_ends(data[lo:hi], quote, quotes_before=before)
        if ends.size:
            return lo + int(ends[-1]) + 1
        hi = lo
        window *= 2
    return start


def record_ends(data: bytes, quote: bytes | None, *, quotes_before: int = 0) -> np.ndarray:
    """Positions of the newlines of ``data`` that end a record (outside quotes).

    Parameters
    ----------
    data : bytes
        Text.
    quote : bytes, optional
        The quote character (one byte); None: every newline ends a record.
    quotes_before : int
        Quote characters before ``data`` (their parity says whether it starts quoted).

    Returns
    -------
    numpy.ndarray
        int64 positions, increasing. Cost ``O(len(data))`` time, 8 bytes per newline
        and per quote of memory.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == _NEWLINE)
    if quote is None or newlines.size == 0:
        return newlines
    quotes = np.flatnonzero(arr == quote[0])
    parity = (np.searchsorted(quotes, newlines) + quotes_before) % 2
    ends: np.ndarray = newlines[parity == 0]
    return ends


def read_ahead(items: Iterable[_T]) -> Iterator[_T]:
    """Yield the items of ``items``, producing the next one in a thread meanwhile.

    Reading a piece (decompressing, parsing: polars releases the GIL) then overlaps with
    the caller's work on the previous one; at most one item waits, so memory grows by
    one piece. The producer's exceptions are raised here, in order. When the caller
    stops early (an error, ``close()``), the producer stops after its current item.
    """
    ready: queue.Queue[list[_T]] = queue.Queue(maxsize=1)  # [item], or [] at the end
    failed: list[BaseException] = []
    stop = threading.Event()

    def put(item: list[_T]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put([item]):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            failed.append(exc)
        put([])

    thread = threading.Thread(target=produce, name="coordscope-read-ahead", daemon=True)
    thread.start()
    try:
        while got := ready.get():
            yield got[0]
        if failed:
            raise failed[0]
    finally:
        stop.set()
        thread.join()


#: Characters that stand for bytes that are not valid UTF-8 (see :func:`mark_invalid_utf8`).
_MARKS: Final = ("\ufffd", "\u2426", "\u241a", "\u2370", "\u2bd1")
_ESCAPED_BYTE: Final = re.compile("[\udc80-\udcff]")


def mark_invalid_utf8(data: bytes) -> tuple[bytes, str | None]:
    """Replace every byte that is not valid UTF-8 with a mark the data does not hold.

    Valid data (nearly always) is returned as it is, with no mark: one decoding pass.
    Otherwise each invalid byte becomes one ``mark`` character, chosen among U+FFFD,
    U+2426, U+241A, U+2370 and U+2BD1 as the first that ``data`` does not already hold,
    so that a field holding the mark after parsing had invalid bytes, and no other did
    (a structural byte (newline, quote, separator) is ASCII and never invalid, so
    records and fields stay where they were). When ``data`` holds every one of them, the
    first is used, and fields that held it genuinely count as invalid too: the caller
    then rejects a record too many, never merges two.

    Returns
    -------
    (bytes, str or None)
        Valid UTF-8, and the mark (None when ``data`` was valid).
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return data, None
    text = data.decode("utf-8", errors="surrogateescape")
    mark = next((m for m in _MARKS if m not in text), _MARKS[0])
    return _ESCAPED_BYTE.sub(mark, text).encode("utf-8"), mark


def head_bytes(path: str, size: int = 1 << 16) -> bytes:
    """Return the first ``size`` decompressed bytes of a file (for format sniffing)."""
    p = _check_file(path)
    kind = compression_of(path)
    try:
        if kind == "gzip":
            with gzip.open(p, "rb") as fh:
                return fh.read(size)
        if kind == "zstd":
            with p.open("rb") as raw:
                reader = zstandard.ZstdDecompressor().stream_reader(raw)
                return reader.read(size)
    except (EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:
        raise InputError(path, f"corrupt or truncated {kind} file ({exc})") from None
    with p.open("rb") as fh:
        return fh.read(size)


def strip_bom(data: bytes) -> bytes:
    """Drop a leading UTF-8 byte-order mark."""
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def head_text(path: str, size: int = 1 << 16) -> str:
    """Return the first ``size`` decompressed bytes as text (BOM dropped, bad bytes replaced)."""
    return strip_bom(head_bytes(path, size)).decode("utf-8", errors="replace")


def file_sha256(path: str) -> str:
    """Return the hex SHA-256 of the file as stored (compressed bytes), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with _check_file(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
