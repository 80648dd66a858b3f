"""Opening input files: decompression by magic bytes, heads for sniffing, hashing.

Compressed inputs (``.gz``, ``.zst``) are recognised by their magic bytes, not their
name, and decompressed in memory; a truncated or corrupt archive is an
:class:`~coordscope.errors.InputError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path
from typing import Final

import zstandard

from coordscope.errors import InputError

__all__ = [
    "compression_of",
    "file_sha256",
    "head_bytes",
    "head_text",
    "is_compressed",
    "read_bytes",
    "strip_bom",
]

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_BOM: Final = b"\xef\xbb\xbf"


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


def read_bytes(path: str) -> bytes:
    """Read a whole file, decompressing gzip or zstd; cost ``O(size)`` memory and time.

    Raises
    ------
    InputError
        Missing file, or a truncated/corrupt archive.
    """
    p = _check_file(path)
    kind = compression_of(path)
    raw = p.read_bytes()
    if kind == "gzip":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(path, f"corrupt or truncated gzip file ({exc})") from None
    if kind == "zstd":
        try:
            out: bytes = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
        except zstandard.ZstdError as exc:
            raise InputError(path, f"corrupt zstd file ({exc})") from None
        return out
    return raw


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
