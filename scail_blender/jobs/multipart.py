"""A multipart/form-data request body that reads its files while it is sent.

``requests`` builds a ``files=`` body in memory, so uploading a large pose video would first hold
all of it; a body object with ``read`` and ``__len__`` is streamed instead, block by block, and
its exact Content-Length lets the server refuse an upload over its limit before the first byte.
"""

from __future__ import annotations

import os
import secrets
from typing import BinaryIO


class MultipartBody:
    """Parts in order: ``add_field`` for a text value, ``add_file`` for an open binary file."""

    def __init__(self) -> None:
        self.boundary = secrets.token_hex(16)
        self._pieces: list[bytes | tuple[BinaryIO, int]] = []
        self._index = 0
        self._length = 0
        self._closed = False

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def add_field(self, name: str, value: str, content_type: str = "text/plain") -> None:
        self._part(f'form-data; name="{name}"', content_type)
        self._add(value.encode() + b"\r\n")

    def add_file(self, name: str, filename: str, file: BinaryIO,
                 content_type: str = "application/octet-stream") -> None:
        safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        self._part(f'form-data; name="{name}"; filename="{safe}"', content_type)
        self._add((file, os.fstat(file.fileno()).st_size - file.tell()))
        self._add(b"\r\n")

    def __len__(self) -> int:
        self._with_closing()
        return self._length

    def read(self, size: int = -1) -> bytes:
        """The next bytes of the body (at most ``size``; all that is left for -1), b"" at the end.
        Each file gives exactly the bytes it had when added: one that shrinks meanwhile is an error."""
        pieces = self._with_closing()
        out = bytearray()
        while self._index < len(pieces) and (size < 0 or len(out) < size):
            piece = pieces[self._index]
            want = -1 if size < 0 else size - len(out)
            if isinstance(piece, bytes):
                taken = piece if want < 0 else piece[:want]
                out += taken
                pieces[self._index] = piece[len(taken):]
                self._index += not pieces[self._index]
                continue
            file, left = piece
            chunk = file.read(left if want < 0 else min(want, left))
            if not chunk and left:
                raise OSError(f"{getattr(file, 'name', 'a file')} became shorter while it was uploaded")
            out += chunk
            pieces[self._index] = (file, left - len(chunk))
            self._index += left == len(chunk)
        return bytes(out)

    def _part(self, disposition: str, content_type: str) -> None:
        self._add(f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n"
                  f"Content-Type: {content_type}\r\n\r\n".encode())

    def _add(self, piece: bytes | tuple[BinaryIO, int]) -> None:
        """Append bytes, or a file with the number of bytes it gives."""
        if self._closed:
            raise ValueError("the body is complete: add parts before it is read")
        self._pieces.append(piece)
        self._length += len(piece) if isinstance(piece, bytes) else piece[1]

    def _with_closing(self) -> list[bytes | tuple[BinaryIO, int]]:
        if not self._closed:
            self._add(f"--{self.boundary}--\r\n".encode())
            self._closed = True
        return self._pieces
