"""How a job's SCAIL-2 extra reference views (in pairs) and MultiAnimate character masks travel as
plain named files: the client uploads them, the server stores them and a Ray worker receives them
under these names."""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .contract import MAX_CHARACTERS, MAX_EXTRA_REFERENCES, JobInputs


def extra_reference_fields(index: int) -> tuple[str, str]:
    """The upload field names of extra reference ``index`` and of its mask (0-based): how the
    client, the server and a Ray worker carry the pairs as plain named files."""
    return f"extra_reference_{index}", f"extra_reference_mask_{index}"


EXTRA_FILE_FIELDS: tuple[str, ...] = tuple(name for k in range(MAX_EXTRA_REFERENCES)
                                           for name in extra_reference_fields(k))


def extra_reference_files(inputs: JobInputs) -> dict[str, str]:
    """The job's extra references and masks by upload field name (see ``extra_reference_fields``)."""
    files: dict[str, str] = {}
    for k, pair in enumerate(zip(inputs.extra_references, inputs.extra_reference_masks)):
        files.update(zip(extra_reference_fields(k), pair))
    return files


def extra_references_from_files(files: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The inverse of ``extra_reference_files``: (images, masks) in order from named files; a pair
    with one half missing or a gap in the numbering is refused."""
    images: list[str] = []
    masks: list[str] = []
    for k in range(MAX_EXTRA_REFERENCES):
        image, mask = (files.get(name) for name in extra_reference_fields(k))
        if image is None and mask is None:
            break
        if image is None or mask is None:
            raise InputError(f"extra reference {k}: send both '{extra_reference_fields(k)[0]}' (the image) and "
                             f"'{extra_reference_fields(k)[1]}' (its mask)")
        images.append(str(image))
        masks.append(str(mask))
    rest = sorted(name for name in files if name in EXTRA_FILE_FIELDS and name not in
                  {n for k in range(len(images)) for n in extra_reference_fields(k)})
    if rest:
        raise InputError(f"extra reference files {', '.join(rest)} do not follow on from extra reference "
                         f"{len(images) - 1 if images else 'none'}; number the pairs from 0 without gaps")
    return images, masks


# MultiAnimate's character masks travel the same way, numbered in identity order from 0, and its
# reference skeleton as the single field ``reference_pose``.
def character_mask_field(index: int) -> str:
    """The upload field name of character mask ``index`` (0-based, identity order)."""
    return f"character_mask_{index}"


CHARACTER_MASK_FIELDS: tuple[str, ...] = tuple(character_mask_field(k) for k in range(MAX_CHARACTERS))


def character_mask_files(inputs: JobInputs) -> dict[str, str]:
    """The job's character masks by upload field name, in identity order."""
    return {character_mask_field(k): path for k, path in enumerate(inputs.character_masks or [])}


def character_masks_from_files(files: dict[str, Any]) -> list[str] | None:
    """The inverse of ``character_mask_files``: the masks in order (None without any); a gap in the
    numbering is refused, since it would shift every later character's identity."""
    masks = [str(files[name]) for name in CHARACTER_MASK_FIELDS if name in files]
    expected = {character_mask_field(k) for k in range(len(masks))}
    if {name for name in CHARACTER_MASK_FIELDS if name in files} != expected:
        raise InputError(f"character mask files {', '.join(n for n in CHARACTER_MASK_FIELDS if n in files)}: number "
                         "them from character_mask_0 without gaps, in identity order")
    return masks or None
