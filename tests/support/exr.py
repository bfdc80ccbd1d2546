"""Read one channel of an uncompressed scanline OpenEXR file (what Blender writes with codec
NONE), so tests can read Blender's own render passes without an image library.

The layout (openexr.com, "OpenEXR File Layout"): magic and version, header attributes (name,
type, size, value) ending in an empty name (a multi-part file, as Blender 5 writes multi-layer
ones, has one header per part and an empty one after them), a table of chunk offsets per part,
then one chunk per scanline: (part number,) y, byte count, and each channel's row in the
header's (alphabetical) channel order.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

MAGIC = 20000630
SAMPLE = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}  # UINT, HALF, FLOAT


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode(), end + 1


def _header(data: bytes, at: int) -> tuple[dict[str, bytes], int]:
    header = {}
    while True:
        name, at = _string(data, at)
        if not name:
            return header, at
        _kind, at = _string(data, at)
        (size,) = struct.unpack_from("<i", data, at)
        header[name] = data[at + 4:at + 4 + size]
        at += 4 + size


def _channels(raw: bytes) -> list[tuple[str, np.dtype]]:
    channels, pos = [], 0
    while raw[pos] != 0:
        name, pos = _string(raw, pos)
        (pixel_type,) = struct.unpack_from("<i", raw, pos)
        channels.append((name, SAMPLE[pixel_type]))
        pos += 16
    return channels


def read_channel(path: str | Path, suffix: str | tuple[str, ...]) -> np.ndarray:
    """The first channel whose name ends with ``suffix`` (or one of them, e.g. ``IndexOB.X``) as
    ``[H, W]`` float64, top row first."""
    data = Path(path).read_bytes()
    magic, version = struct.unpack_from("<ii", data, 0)
    multipart = bool(version & 0x1000)
    if magic != MAGIC or version & 0xA00:  # tiled, deep
        raise ValueError(f"{path} is not a scanline EXR")
    headers, at = [], 8
    while True:
        header, at = _header(data, at)
        headers.append(header)
        if not multipart or data[at] == 0:
            at += 1 if multipart else 0
            break
    tables = []
    for header in headers:
        x0, y0, x1, y1 = struct.unpack_from("<iiii", header["dataWindow"], 0)
        tables.append(np.frombuffer(data, "<u8", y1 - y0 + 1, at))
        at += 8 * (y1 - y0 + 1)
    for part, header in enumerate(headers):
        channels = _channels(header["channels"])
        wanted = [k for k, (name, _) in enumerate(channels) if name.endswith(suffix)]
        if not wanted:
            continue
        if header["compression"][0] != 0:
            raise ValueError(f"{path} is compressed: write it with codec NONE")
        x0, y0, x1, y1 = struct.unpack_from("<iiii", header["dataWindow"], 0)
        width = x1 - x0 + 1
        out = np.empty((y1 - y0 + 1, width))
        skip = sum(width * dtype.itemsize for _, dtype in channels[:wanted[0]])
        dtype = channels[wanted[0]][1]
        lead = 4 if multipart else 0  # a multi-part chunk starts with its part number
        for offset in tables[part]:
            (y,) = struct.unpack_from("<i", data, int(offset) + lead)
            out[y - y0] = np.frombuffer(data, dtype, width, int(offset) + lead + 8 + skip)
        return out
    raise ValueError(f"{path} has no channel ending in {suffix}")
