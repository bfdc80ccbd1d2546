"""How many characters a MultiAnimate checkpoint animates, read before anything is rendered.

The standard checkpoint takes 3 characters, the extended one 7 (contract ``MAX_CHARACTERS``);
the engine reads the limit from ``label_embedding.0.weight``'s input channels (one per character
plus the background) and refuses more at generation time. The panel and ``scail render-pose``
read the same number here, from the shards' JSON headers only (no torch, no tensor bytes), so a
scene with too many characters is refused before minutes of rendering.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ..errors import CheckpointError, InputError
from .contract import MAX_CHARACTERS
from .weights.identify import HEADER_LIMIT, MA_DIR, MA_INDEX, MA_STEM

LABEL_WEIGHT = "label_embedding.0.weight"


def checkpoint_characters(path: str | Path) -> int:
    """The most characters the MultiAnimate checkpoint folder ``path`` (``epoch=...ckpt`` or its
    ``output_dir``) animates: its identity adapter's input channels less the background."""
    path = Path(path)
    folder = path / MA_DIR if (path / MA_DIR).is_dir() else path
    shards = sorted(folder.glob(f"{MA_STEM}-*-of-*.safetensors"))
    index = folder / MA_INDEX
    if index.is_file():
        try:
            where = json.loads(index.read_text())["weight_map"]
            shards = [folder / shard for name, shard in where.items() if _is_label(name)] or shards
        except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{index} is not a safetensors index ({exc}); download it again") from exc
    for shard in shards:
        for name, shape in _shapes(shard).items():
            if _is_label(name) and len(shape) == 5:
                return int(shape[1]) - 1
    raise CheckpointError(f"{path} holds no {LABEL_WEIGHT} (the identity adapter) in {MA_DIR}/{MA_STEM}-0000k-of-"
                          "00008.safetensors: give a MultiAnimate checkpoint folder (epoch=39-step=7000.ckpt or "
                          "epoch=23-step=4200-multi.ckpt)")


def check_characters(characters: int, fewer: str, checkpoint: str | Path | None = None) -> None:
    """Refuse more than ``checkpoint``'s characters (3 or 7; without one, the extended
    checkpoint's 7), naming both numbers, ``fewer`` (how this front end renders fewer
    characters) and the extended checkpoint when it would take them all."""
    limit = MAX_CHARACTERS if checkpoint is None else checkpoint_characters(checkpoint)
    if characters <= limit:
        return
    model = (f"the MultiAnimate checkpoint {Path(checkpoint).name}" if checkpoint is not None
             else "MultiAnimate (its extended checkpoint)")
    bigger = (f", or use the extended checkpoint epoch=23-step=4200-multi.ckpt ({MAX_CHARACTERS} characters)"
              if limit < MAX_CHARACTERS and characters <= MAX_CHARACTERS else "")
    raise InputError(f"{characters} characters, but {model} animates at most {limit}: {fewer}{bigger}. "
                     "Nothing was rendered.")


def _is_label(name: str) -> bool:
    return name == LABEL_WEIGHT or name.endswith(f".{LABEL_WEIGHT}")


def _shapes(shard: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a safetensors file's JSON header."""
    try:
        with shard.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if not 2 <= length <= HEADER_LIMIT:
                raise ValueError(f"header length {length}")
            header = json.loads(handle.read(length))
        return {name: list(info["shape"]) for name, info in header.items() if name != "__metadata__"}
    except (OSError, ValueError, struct.error, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{shard} is not a readable safetensors file ({exc}); the download is incomplete "
                              "or damaged: download it again") from exc
