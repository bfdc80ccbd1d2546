"""Binary glTF (GLB) container: read accessors out of a file, and assemble one from arrays.

Both the ComfyUI-SCAIL-Pose reader and our skinned writer sit on this; neither knows about
chunk headers, padding or byte strides. Only what those two need is supported (no sparse
accessors, no external buffers); anything else is refused with a message instead of guessed.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963

COMPONENT_DTYPES: dict[int, np.dtype] = {
    5120: np.dtype("<i1"),
    5121: np.dtype("<u1"),
    5122: np.dtype("<i2"),
    5123: np.dtype("<u2"),
    5125: np.dtype("<u4"),
    5126: np.dtype("<f4"),
}
COMPONENT_TYPES = {dtype: code for code, dtype in COMPONENT_DTYPES.items()}
TYPE_SHAPES: dict[str, tuple[int, ...]] = {
    "SCALAR": (),
    "VEC2": (2,),
    "VEC3": (3,),
    "VEC4": (4,),
    "MAT2": (2, 2),
    "MAT3": (3, 3),
    "MAT4": (4, 4),
}


@dataclass
class Gltf:
    """A parsed GLB: the JSON document and its binary chunk."""

    doc: dict[str, Any]
    blob: bytes
    name: str = "GLB"

    def list(self, key: str) -> list[dict[str, Any]]:
        value = self.doc.get(key, [])
        if not isinstance(value, list):
            raise InputError(f"{self.name}: '{key}' is not a list; the file is not valid glTF 2.0.")
        return value

    def accessor(self, index: int) -> np.ndarray:
        """The accessor's elements as an array of shape [count, *type shape] (column-major
        matrices come back transposed into row-major, as numpy users expect)."""
        accessors = self.list("accessors")
        if not isinstance(index, int) or not 0 <= index < len(accessors):
            raise InputError(f"{self.name}: accessor {index} does not exist; the file is damaged.")
        acc = accessors[index]
        if "sparse" in acc:
            raise InputError(f"{self.name}: sparse accessors are not supported; re-export without them.")
        try:
            dtype = COMPONENT_DTYPES[acc["componentType"]]
            shape = TYPE_SHAPES[acc["type"]]
            count = int(acc["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{self.name}: accessor {index} is malformed ({exc}).") from None
        width = int(np.prod(shape)) if shape else 1
        if "bufferView" not in acc:
            return np.zeros((count, *shape), dtype)
        view = self._view(acc["bufferView"])
        start = int(view.get("byteOffset", 0)) + int(acc.get("byteOffset", 0))
        item = dtype.itemsize * width
        stride = int(view.get("byteStride", item))
        end = start + stride * (count - 1) + item if count else start
        limit = int(view.get("byteOffset", 0)) + int(view["byteLength"])
        if end > limit or limit > len(self.blob):
            raise InputError(f"{self.name}: accessor {index} runs past the end of its data; the file is truncated or damaged.")
        raw = np.lib.stride_tricks.as_strided(
            np.frombuffer(self.blob, np.uint8, count=end - start if count else 0, offset=start),
            shape=(count, item),
            strides=(stride, 1),
        ) if count else np.zeros((0, item), np.uint8)
        values = np.ascontiguousarray(raw).view(dtype).reshape(count, *shape)
        if len(shape) == 2:
            values = values.transpose(0, 2, 1)
        return values

    def _view(self, index: int) -> dict[str, Any]:
        views = self.list("bufferViews")
        if not isinstance(index, int) or not 0 <= index < len(views):
            raise InputError(f"{self.name}: buffer view {index} does not exist; the file is damaged.")
        view = views[index]
        if int(view.get("buffer", 0)) != 0:
            raise InputError(f"{self.name}: data in external buffers is not supported; export as a single .glb.")
        return view


def read_glb(path: str | Path) -> Gltf:
    """Parse a .glb file, refusing anything that is not a complete binary glTF 2.0."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from None
    return parse_glb(data, name=path.name)


def parse_glb(data: bytes, name: str = "GLB") -> Gltf:
    if len(data) < 12 or data[:4] != GLB_MAGIC:
        raise InputError(f"{name} is not a binary glTF file (.glb): it does not start with 'glTF'.")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise InputError(f"{name} is glTF version {version}; only glTF 2.0 is supported.")
    if length > len(data):
        raise InputError(f"{name} is truncated: the header says {length} bytes but the file has {len(data)}; copy it again.")
    offset, doc, blob = 12, None, b""
    while offset + 8 <= length:
        size, kind = struct.unpack_from("<II", data, offset)
        body = data[offset + 8 : offset + 8 + size]
        if len(body) < size:
            raise InputError(f"{name} is truncated inside a chunk; copy the file again.")
        if kind == CHUNK_JSON and doc is None:
            try:
                doc = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(f"{name}: the JSON chunk is unreadable ({exc}).") from None
        elif kind == CHUNK_BIN and not blob:
            blob = bytes(body)
        offset += 8 + size
    if not isinstance(doc, dict):
        raise InputError(f"{name} has no JSON chunk; it is not a usable glTF file.")
    return Gltf(doc=doc, blob=blob, name=name)


@dataclass
class GlbBuilder:
    """Collects binary data for a glTF document and writes the finished .glb."""

    doc: dict[str, Any] = field(default_factory=dict)
    _chunks: list[bytes] = field(default_factory=list)
    _size: int = 0

    def _append(self, data: bytes, target: int | None = None) -> int:
        pad = (-self._size) % 4
        if pad:
            self._chunks.append(b"\0" * pad)
            self._size += pad
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self._size, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self._chunks.append(data)
        self._size += len(data)
        views = self.doc.setdefault("bufferViews", [])
        views.append(view)
        return len(views) - 1

    def add_accessor(self, values: np.ndarray, type_: str, *, target: int | None = None,
                     bounds: bool = False) -> int:
        """Store ``values`` (already of the wanted dtype, shape [count, *type shape]) and return
        the accessor index. Matrices are given row-major and stored column-major, as glTF wants."""
        values = np.asarray(values)
        if values.dtype not in COMPONENT_TYPES:
            raise ValueError(f"dtype {values.dtype} has no glTF component type")
        shape = TYPE_SHAPES[type_]
        values = values.reshape(-1, *shape)
        stored = values.transpose(0, 2, 1) if len(shape) == 2 else values
        view = self._append(np.ascontiguousarray(stored).tobytes(), target)
        acc: dict[str, Any] = {
            "bufferView": view,
            "componentType": COMPONENT_TYPES[values.dtype],
            "count": int(values.shape[0]),
            "type": type_,
        }
        if bounds:
            flat = values.reshape(values.shape[0], -1)
            cast = int if values.dtype.kind in "iu" else float
            acc["min"] = [cast(v) for v in flat.min(axis=0)]
            acc["max"] = [cast(v) for v in flat.max(axis=0)]
        accessors = self.doc.setdefault("accessors", [])
        accessors.append(acc)
        return len(accessors) - 1

    def to_bytes(self) -> bytes:
        self.doc["buffers"] = [{"byteLength": self._size}] if self._size else []
        text = json.dumps(self.doc, separators=(",", ":")).encode("utf-8")
        text += b" " * ((-len(text)) % 4)
        blob = b"".join(self._chunks)
        blob += b"\0" * ((-len(blob)) % 4)
        parts = [struct.pack("<II", len(text), CHUNK_JSON), text]
        if blob:
            parts += [struct.pack("<II", len(blob), CHUNK_BIN), blob]
        body = b"".join(parts)
        return GLB_MAGIC + struct.pack("<II", 2, 12 + len(body)) + body
