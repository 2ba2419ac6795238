"""Opening a trace file and cutting it into blocks of whole lines.

Not a kernel file. Files may be plain or compressed (xz, gzip, bzip2, found by their
magic bytes); ``-`` reads standard input. Decompression runs in a helper thread (lzma,
zlib and bz2 release the GIL) so that it overlaps with parsing. This module stays
interpreted in the compiled build (compiled.py): its work is per block, not per line,
and the compiled generator was slower than CPython's.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import queue
import sys
import threading
import zlib
from typing import IO, Final, Iterator

from ..errors import InputError

__all__ = ["BLOCK_SIZE", "compression", "iter_text_blocks", "iter_line_blocks"]

BLOCK_SIZE: Final = 1 << 18                # fits the L2 cache with its lines: faster than 1 MiB
# a decompressing thread reads this many blocks at a time: each read takes the GIL a few
# times, and every hand-over costs the parsing thread up to a switch interval
_READ_AHEAD: Final = 16


def compression(path: str) -> str:
    """The compression of ``path`` from its magic bytes: "", "xz", "gz" or "bz2"."""
    if path == "-":
        return ""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return ""
    for magic, name in ((b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b", "gz"), (b"BZh", "bz2")):
        if head.startswith(magic):
            return name
    return ""


class _Closing:
    """A decompressing stream that also closes the file under it (unless stdin)."""

    def __init__(self, stream, raw) -> None:
        self.stream = stream
        self.raw = raw

    def read(self, n: int) -> bytes:
        return self.stream.read(n)

    def close(self) -> None:
        self.stream.close()
        if self.raw is not sys.stdin.buffer:
            self.raw.close()


def _open_binary(path: str) -> tuple[IO[bytes] | _Closing, str]:
    """Open ``path`` (or stdin for ``-``) for reading bytes, undoing compression.

    Returns the stream and the compression found ("", "xz", "gz", "bz2").
    """
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        head = raw.peek(6)[:6] if hasattr(raw, "peek") else b""
    else:
        try:
            raw = open(path, "rb")
        except FileNotFoundError:
            raise InputError(path, 0, "no such file") from None
        except IsADirectoryError:
            raise InputError(path, 0, "is a directory, not a trace") from None
        except OSError as e:
            raise InputError(path, 0, f"cannot read: {e.strerror or e}") from None
        head = raw.read(6)
        raw.seek(0)
    # the decompressing reader does not own raw: _Closing closes both
    if head.startswith(b"\xfd7zXZ\x00"):
        return _Closing(lzma.open(raw), raw), "xz"
    if head.startswith(b"\x1f\x8b"):
        return _Closing(gzip.open(raw), raw), "gz"
    if head.startswith(b"BZh"):
        return _Closing(bz2.open(raw), raw), "bz2"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raw.close()
        raise InputError(path, 0, "zstd-compressed: decompress it first (zstd -d)")
    return raw, ""


def _read_blocks(path: str, block_size: int, start: int = 0,
                 end: int | None = None) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``path`` in blocks of about ``block_size``.

    Compressed input is decompressed by a helper thread, at most a few blocks ahead.
    ``start`` and ``end`` (byte offsets) select a range of a plain file.
    """
    f, comp = _open_binary(path)
    if not comp:
        assert not isinstance(f, _Closing)
        try:
            if start:
                f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                try:
                    b = f.read(block_size if left is None else min(block_size, left))
                except OSError as e:
                    raise InputError(path, 0, f"cannot read: {e}") from None
                if not b:
                    return
                if left is not None:
                    left -= len(b)
                yield b
        finally:
            if f is not sys.stdin.buffer:
                f.close()
        return
    if start or end is not None:
        f.close()
        raise ValueError("byte ranges are for plain files only")

    q: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()

    def put(item: object) -> None:
        """Hand an item to the consumer, unless it has stopped reading."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            while not stop.is_set():
                b = f.read(block_size * _READ_AHEAD)
                put(b)
                if not b:
                    return
        except BaseException as e:  # handed to the consumer
            put(e)
        finally:
            f.close()

    t = threading.Thread(target=produce, name="pagealloc-trace-read", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                if isinstance(item, (EOFError, lzma.LZMAError, OSError, zlib.error)):
                    raise InputError(path, 0, f"corrupt {comp} data: {item}") from None
                raise item
            if not item:
                return
            assert isinstance(item, bytes)
            if len(item) <= block_size:
                yield item
            else:
                for k in range(0, len(item), block_size):
                    yield item[k:k + block_size]
    finally:
        stop.set()
        t.join(timeout=5)


def iter_text_blocks(path: str, block_size: int = BLOCK_SIZE, start: int = 0,
                     end: int | None = None) -> Iterator[bytes]:
    """Yield the text of ``path`` in blocks of whole lines, each ending with a newline.

    CR-LF line ends become LF; a last line without a newline gets one. ``start`` and
    ``end`` select a byte range of a plain file (both at line starts).
    """
    carry = b""
    crlf = None
    for b in _read_blocks(path, block_size, start, end):
        if carry:
            b = carry + b
        if crlf is None:
            nl = b.find(b"\n")
            if nl >= 0:
                crlf = nl > 0 and b[nl - 1] == 13
        if crlf:
            b = b.replace(b"\r\n", b"\n")
        k = b.rfind(b"\n") + 1
        carry = b[k:]
        if k:
            yield b[:k] if carry else b
    if carry:
        yield carry.rstrip(b"\r") + b"\n"


def iter_line_blocks(path: str, block_size: int = BLOCK_SIZE) -> Iterator[list[bytes]]:
    """Yield the lines of ``path`` as lists of bytes (no line ends), a block at a time.

    Lists keep the per-line cost of the callers' loops low; each holds the lines of about
    ``block_size`` bytes.
    """
    for b in iter_text_blocks(path, block_size):
        lines = b.split(b"\n")
        lines.pop()
        yield lines
