"""SCAIL-2 reference masks from images, and the people a mask shows.

A reference mask paints each character of the reference image in its identity colour (see
``identity``) on the mode's reference background: white in animation mode, black in replacement
mode, where the reference itself is composited onto black. Blender renders give an alpha and a
per-pixel character label; an image the user picks gives its alpha, a mask image, or a plain
background colour to key out. All of it is numpy, so the panel, ``scail render-pose`` and tests
share it without bpy.

The people a mask shows are counted the way the model reads masks: a pixel is of a colour class
when each channel is above 225 or not (``MASK_ON``); a palette colour counts as one person when it
covers at least ``MIN_PERSON_PIXELS`` pixels, so a few stray edge pixels are not a person.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import InputError
from .identity import PALETTE, PALETTE_NAMES, paint_mask

MASK_ON = 225  # a channel is "on" above this value (the model's threshold)
MIN_PERSON_PIXELS = 16  # one 4x4 cell: what survives the model's area downsampling as a trace
ALPHA_ON = 0.5  # a pixel belongs to the character when its alpha is above one half
SOURCES = ("alpha", "mask_image", "colour")


def mask_from_labels(labels: np.ndarray, identities: np.ndarray, mode: str) -> np.ndarray:
    """The reference mask ``[H, W, 3]`` uint8 of per-pixel character labels (-1 = background):
    character p in the colour of ``identities[p]`` on the mode's reference background."""
    return paint_mask(labels, identities, mode, "reference")


def labels_from_alpha(alpha: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
    """Character labels from a render's ``alpha`` ``[H, W]`` (0..1) and, for several characters,
    an ``ids`` ``[H, W]`` label image (-1 where no character) drawn without anti-aliasing.

    The silhouette is the alpha's (above one half); a silhouette pixel that ``ids`` leaves
    unlabelled (an anti-aliased edge the label render does not cover) takes the label of a
    labelled neighbour, grown outwards pixel by pixel, so it keeps the character it touches.
    Without ``ids`` every silhouette pixel is character 0.
    """
    inside = np.asarray(alpha, np.float32) > ALPHA_ON
    if ids is None:
        return np.where(inside, 0, -1).astype(np.int64)
    labels = np.asarray(ids, np.int64).copy()
    if labels.shape != inside.shape:
        raise InputError(f"the label image is {labels.shape} but the alpha is {inside.shape}; render both at one size")
    for _ in range(GROW_STEPS):
        missing = inside & (labels < 0)
        if not missing.any() or not (labels >= 0).any():
            break
        labels = np.where(labels < 0, _neighbour_label(labels), labels)
    return np.where(inside, labels, -1)


GROW_STEPS = 8  # an edge the two renders disagree on is a pixel or two wide; 8 is ample


def _neighbour_label(labels: np.ndarray) -> np.ndarray:
    """Per pixel, the label of a labelled 4-neighbour (-1 where none): one step of growing."""
    padded = np.pad(labels, 1, constant_values=-1)
    out = np.full(labels.shape, -1, np.int64)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        shifted = padded[dy:dy + labels.shape[0], dx:dx + labels.shape[1]]
        out = np.where(out < 0, shifted, out)
    return out


def composite_on_black(rgba: np.ndarray) -> np.ndarray:
    """RGB uint8 of an RGBA image over black (replacement mode's reference)."""
    arr = np.asarray(rgba)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise InputError("the reference has no alpha channel to composite; render it with a transparent film "
                         "or save the image as RGBA PNG")
    alpha = arr[..., 3:4].astype(np.float32) / 255.0
    return np.clip(np.round(arr[..., :3].astype(np.float32) * alpha), 0, 255).astype(np.uint8)


def mask_from_image(image: np.ndarray, source: str, mode: str, identity: int = 0,
                    mask_image: np.ndarray | None = None, key_colour: tuple[int, int, int] = (255, 255, 255),
                    tolerance: int = 24) -> np.ndarray:
    """The reference mask of one character in an image the user picked, from ``source``:

    - ``alpha``: the image's alpha channel (RGBA ``image``), above one half is the character;
    - ``mask_image``: a black-and-white ``mask_image`` of the same size, bright (above 127) is
      the character (an identity-coloured mask is taken as it is, see ``adopt_mask``);
    - ``colour``: every pixel further than ``tolerance`` (per channel) from the plain background
      ``key_colour`` is the character.

    The character is painted in identity ``identity``'s colour on the mode's reference background.
    """
    img = np.asarray(image)
    if source == "alpha":
        if img.ndim != 3 or img.shape[2] != 4:
            raise InputError("the reference image has no alpha channel: save it as RGBA PNG with a transparent "
                             "background, or take the mask from a mask image or a background colour")
        inside = img[..., 3] > 127
    elif source == "mask_image":
        if mask_image is None:
            raise InputError("no mask image given: pick the black-and-white mask of the reference image")
        return adopt_mask(mask_image, img.shape[:2], mode, identity)
    elif source == "colour":
        rgb = img[..., :3].astype(np.int16)
        far = np.abs(rgb - np.asarray(key_colour, np.int16)).max(axis=-1) > tolerance
        inside = far if img.shape[-1] != 4 else far & (img[..., 3] > 127)
    else:
        raise InputError(f"unknown mask source {source!r}: use one of {', '.join(SOURCES)}")
    if not inside.any():
        raise InputError(f"the reference mask from the {source.replace('_', ' ')} is empty: nothing in the image "
                         "was taken for the character; check the image or pick another mask source")
    return mask_from_labels(np.where(inside, 0, -1), np.array([identity]), mode)


def adopt_mask(mask: np.ndarray, size: tuple[int, int], mode: str, identity: int = 0) -> np.ndarray:
    """A mask image made elsewhere, as a reference mask of ``size`` (H, W): one already in identity
    colours is kept as it is; a black-and-white one paints its bright part in ``identity``'s colour."""
    arr = np.asarray(mask)
    rgb = arr[..., :3] if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=-1)
    if rgb.shape[:2] != tuple(size):
        raise InputError(f"the mask image is {rgb.shape[1]}x{rgb.shape[0]} pixels (width x height) but the "
                         f"reference is {size[1]}x{size[0]}; give a mask of the reference's size")
    if people_in_mask(rgb):
        return np.ascontiguousarray(rgb.astype(np.uint8))
    inside = rgb.astype(np.int32).mean(axis=-1) > 127
    return mask_from_labels(np.where(inside, 0, -1), np.array([identity]), mode)


def mask_colour_areas(mask: np.ndarray) -> np.ndarray:
    """Pixels of each palette colour ``[6]`` in a mask frame, classified as the model does."""
    on = np.asarray(mask)[..., :3] > MASK_ON
    codes = on[..., 0].astype(np.int64) * 4 + on[..., 1] * 2 + on[..., 2]
    counts = np.bincount(codes.ravel(), minlength=8)
    return np.array([counts[(r > 0) * 4 + (g > 0) * 2 + (b > 0)] for r, g, b in PALETTE], np.int64)


def people_in_mask(mask: np.ndarray) -> frozenset[int]:
    """Palette indices (0 = blue, ...) a mask frame shows (see the module docstring)."""
    return frozenset(int(i) for i in np.nonzero(mask_colour_areas(mask) >= MIN_PERSON_PIXELS)[0])


def people_in_frames(frames: Iterable[np.ndarray]) -> frozenset[int]:
    """Palette indices any frame of a driving mask shows (people may arrive late)."""
    seen: set[int] = set()
    for frame in frames:
        seen |= people_in_mask(frame)
    return frozenset(seen)


def check_people_match(reference: frozenset[int], driving: frozenset[int]) -> None:
    """Refuse a reference mask and a driving mask that show different people (a different count,
    or the same count in other colours), naming both counts and their colours."""
    if reference == driving:
        return

    def named(ids: frozenset[int]) -> str:
        return ", ".join(PALETTE_NAMES[i] for i in sorted(ids)) or "none"

    def count(ids: frozenset[int]) -> str:
        return f"{len(ids)} {'person' if len(ids) == 1 else 'people'}"

    raise InputError(
        f"the reference mask shows {count(reference)} ({named(reference)}) but the driving mask shows "
        f"{count(driving)} ({named(driving)}): SCAIL-2 binds each coloured character of the reference to the one of "
        "the same colour in the driving video, so both need the same people in the same colours; render the reference with the same "
        "characters as the pose video (Render Reference, scail render-pose --reference-mask-out) or fix the masks")


def identity_legend(identities: np.ndarray) -> list[str]:
    """Colour names of characters in order (``identities[p]`` per character), for reports."""
    return [PALETTE_NAMES[int(i) % len(PALETTE)] for i in identities]

