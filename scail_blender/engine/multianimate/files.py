"""Sharded safetensors as the releases lay them out: the headers read at once, tensors on demand.

Wan2.1-I2V-14B-720P ships its DiT as ``diffusion_pytorch_model-0000k-of-00007.safetensors`` with
``diffusion_pytorch_model.safetensors.index.json``; a MultiAnimate checkpoint is DeepSpeed's
``zero_to_fp32 --safe_serialization`` output, ``output_dir/model-0000k-of-00008.safetensors`` with
``model.safetensors.index.json``. Both name their shards ``<stem>-<k>-of-<n>.safetensors``.
Opening a shard reads only its JSON header; a tensor's bytes are read when ``read`` asks for it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ...errors import CheckpointError

SHARD = re.compile(r"(?P<stem>.+)-(?P<k>\d{5})-of-(?P<n>\d{5})\.safetensors\Z")


class ShardSet:
    """The tensors of one sharded checkpoint: name -> shape, dtype and shard, read one at a time."""

    def __init__(self, shards: list[Path]) -> None:
        self.shards = shards
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, str] = {}
        self._where: dict[str, int] = {}
        self._handles = []
        for index, file in enumerate(shards):
            try:
                handle = safe_open(file, framework="pt", device="cpu")
                for name in handle.keys():
                    piece = handle.get_slice(name)
                    self.shapes[name] = tuple(piece.get_shape())
                    self.dtypes[name] = piece.get_dtype()
                    self._where[name] = index
            except (SafetensorError, OSError, ValueError) as exc:
                raise CheckpointError(f"{file} is not a readable safetensors file ({exc}); the download is "
                                      "incomplete or damaged: download it again") from exc
            self._handles.append(handle)

    def read(self, name: str) -> torch.Tensor:
        """One tensor, as stored."""
        return self._handles[self._where[name]].get_tensor(name)


def sharded_files(folder: Path, stem: str, index_name: str, what: str) -> list[Path]:
    """The shards ``<stem>-k-of-n.safetensors`` of ``folder``, all present, checked against the index.

    Without the index file the shard names themselves must give a complete 1..n series.
    """
    found = {m.group("k"): m for p in sorted(folder.glob(f"{stem}-*-of-*.safetensors"))
             if (m := SHARD.match(p.name)) and m.group("stem") == stem}
    index = folder / index_name
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index} is not a safetensors index (no readable weight_map: {exc}); "
                                  f"download it again with the {what}") from exc
        names = sorted(set(weight_map.values()))
    elif found:
        total = int(next(iter(found.values())).group("n"))
        names = [f"{stem}-{k:05d}-of-{total:05d}.safetensors" for k in range(1, total + 1)]
    else:
        raise CheckpointError(f"{folder} holds no {stem}-0000k-of-0000n.safetensors shards (the {what})")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise CheckpointError(f"the {what} in {folder} is incomplete: {len(missing)} of {len(names)} shards are "
                              f"missing ({', '.join(missing[:3])}); download them")
    return [folder / n for n in names]
