"""The 2D marks SCAIL draws over its 3D skeleton: cheek lines, face points, hands.

The official pipeline draws them with OpenCV (``draw_bodypose_augmentation`` with
``all_cheek_aug``, ``draw_handpose``, ``draw_facepose`` with ``optimized_face``) onto one
canvas per person, sums the canvases as uint8 and pastes every non-zero channel over the
render. The model learnt those exact pixels, so the primitives come from ``raster`` (OpenCV's
integer rasterisation in numpy, without OpenCV) and the painting order is reproduced here,
for all people of many frames in one batch.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .camera import Intrinsics
from .raster import (  # noqa: F401  (the single-primitive rasterisers are part of this module's API)
    MAX_COORD,
    disk,
    disks,
    ellipse_polygon,
    ellipse_polygons,
    fill_convex,
    fill_convex_polys,
    thick_line,
    thick_lines,
    thin_line,
)

# Head marks (nose, right eye, left eye, right ear, left ear), as the official slots 0, 14-17.
CHEEK_LINES = ((0, 1), (1, 3), (0, 2), (2, 4))
CHEEK_COLORS = ((85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170))
HEAD_COLORS = ((255, 0, 0), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
CHEEK_HALF_WIDTH = 4
HEAD_DOT_RADIUS = 4
CHEEK_DIM = 0.6
# DWPose hand: wrist, then thumb, index, middle, ring, little (4 points each, base to tip).
HAND_EDGES = tuple((0 if j == 0 else 4 * f + j, 4 * f + j + 1) for f in range(5) for j in range(4))
HAND_DOT_COLOR = (0, 0, 255)
# Of the 68 face landmarks only brows (17-26), eyes and mouth (36-67) are drawn.
FACE_POINTS = tuple(range(17, 27)) + tuple(range(36, 68))
FACE_COLOR = (255, 255, 255)


def _hand_edge_color(i: int) -> tuple[int, int, int]:
    """Edge i: HSV(i/20, 1, 1) * 255 as OpenCV receives it (float, rounded half to even)."""
    rgb = np.array(colorsys.hsv_to_rgb(i / float(len(HAND_EDGES)), 1.0, 1.0)) * 255
    return tuple(int(c) for c in np.rint(rgb))


HAND_EDGE_COLORS = tuple(_hand_edge_color(i) for i in range(len(HAND_EDGES)))


@dataclass
class Marks2D:
    """One person's 2D marks in pixels (x = column, y = row); NaN marks a missing point.

    ``head`` [5, 2]: nose, right eye, left eye, right ear, left ear. ``hands`` [2, 21, 2]:
    left then right hand in DWPose order. ``face`` [68, 2]: 68-point landmarks. Any may be None.
    """

    head: np.ndarray | None = None
    hands: np.ndarray | None = None
    face: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name, shape in (("head", (5, 2)), ("hands", (2, 21, 2)), ("face", (68, 2))):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != shape:
                raise InputError(f"Marks2D.{name} must have shape {list(shape)}, got {list(arr.shape)}")
            setattr(self, name, arr)


def project_marks(head3d: np.ndarray | None, hands3d: np.ndarray | None, intrinsics: Intrinsics,
                  face3d: np.ndarray | None = None) -> Marks2D:
    """Marks2D of camera-space mm points; missing (all-zero), non-finite or z <= 0 become NaN."""

    def proj(points: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
        if points is None:
            return None
        p = np.asarray(points, dtype=np.float64)
        if p.shape != shape:
            raise InputError(f"3D marks must have shape {list(shape)}, got {list(p.shape)}")
        bad = ~np.isfinite(p).all(axis=-1) | ~np.any(p != 0, axis=-1)
        xy = intrinsics.project(np.where(bad[..., None], 0.0, p))
        xy[bad] = np.nan
        return xy

    return Marks2D(head=proj(head3d, (5, 3)), hands=proj(hands3d, (2, 21, 3)), face=proj(face3d, (68, 3)))


def thin_thickness(height: int, width: int) -> int:
    """Hand line width and hand/face dot radius of the official drawing: 1 px below 600."""
    return min(max(int(min(height, width) / 300), 1), 2)


# ---- Painting all people of a batch of frames. ----

# Within one person a later stroke covers an earlier one, so every stroke has a rank in painting
# order, and its colour follows from the rank: 4 cheeks (already dimmed), 5 head dots, then per
# hand its 20 edges and its dots, then the face dots.
HEAD_RANK = len(CHEEK_COLORS)
HAND_RANK = HEAD_RANK + len(HEAD_COLORS)
HAND_RANKS = len(HAND_EDGES) + 1
FACE_RANK = HAND_RANK + 2 * HAND_RANKS
STROKE_COLORS = np.array(
    [*(np.array(CHEEK_COLORS, np.uint8) * CHEEK_DIM).astype(np.uint8), *HEAD_COLORS,
     *(HAND_EDGE_COLORS + (HAND_DOT_COLOR,)) * 2, FACE_COLOR], np.uint8)
HAND_A = np.array([a for a, _ in HAND_EDGES])
HAND_B = np.array([b for _, b in HAND_EDGES])
FACE_INDEX = np.array(FACE_POINTS)


def _present(points: np.ndarray) -> np.ndarray:
    """Drawable points: finite and within MAX_COORD pixels of the image origin.

    Farther points are dropped: OpenCV's fixed-point line code overflows on them (and the
    official drawing cannot even pass them to OpenCV as int32).
    """
    return (np.abs(points) < MAX_COORD).all(axis=-1)


def _truncated(points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Integer pixels as ``int(x)`` gives them (toward zero); absent points become 0."""
    return np.where(present[..., None], points, 0).astype(np.int64)


def _stack(people: list[Marks2D]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head [Q, 5, 2], hands [Q, 2, 21, 2] and face [Q, 68, 2] of Q people, NaN where absent."""
    head = np.full((len(people), 5, 2), np.nan)
    hands = np.full((len(people), 2, 21, 2), np.nan)
    face = np.full((len(people), 68, 2), np.nan)
    for q, marks in enumerate(people):
        for name, out in (("head", head), ("hands", hands), ("face", face)):
            value = getattr(marks, name)
            if value is not None:
                out[q] = value
    return head, hands, face


def _cheeks(head: np.ndarray, present: np.ndarray, height: int, width: int) -> tuple[np.ndarray, ...]:
    """Cheek ellipses: pixels, person and rank.

    Centre, length and angle go through the same scalar float operations (C ``pow`` and
    ``atan2``) as the official code: an angle one ulp below a whole degree truncates to the
    degree below, and numpy's vectorised functions may round differently.
    """
    params, owner, rank = [], [], []
    points = head.tolist()
    for q, k in zip(*np.nonzero(present[:, [i for i, _ in CHEEK_LINES]] & present[:, [j for _, j in CHEEK_LINES]])):
        i, j = CHEEK_LINES[k]
        (x0, y0), (x1, y1) = points[q][i], points[q][j]
        length = ((y0 - y1) ** 2 + (x0 - x1) ** 2) ** 0.5
        angle = math.degrees(math.atan2(y0 - y1, x0 - x1))
        params.append((int((x0 + x1) / 2), int((y0 + y1) / 2), int(length / 2), int(angle)))
        owner.append(q)
        rank.append(k)
    if not params:
        return ()
    cx, cy, half_length, angle = np.array(params, np.int64).T
    vertices, counts = ellipse_polygons(cx, cy, half_length, CHEEK_HALF_WIDTH, angle)
    rows, cols, which = fill_convex_polys(vertices, counts, height, width)
    return rows, cols, np.array(owner)[which], np.array(rank)[which]


def _strokes(people: list[Marks2D], height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every painted pixel of Q people: (rows, cols, person, rank), unordered and repeating."""
    thin = thin_thickness(height, width)
    head, hands, face = _stack(people)
    ok = _present(head)
    parts = [_cheeks(head, ok, height, width)]
    pix = _truncated(head, ok)
    q, i = np.nonzero(ok)
    rows, cols, which = disks(pix[q, i, 0], pix[q, i, 1], HEAD_DOT_RADIUS, height, width)
    parts.append((rows, cols, q[which], HEAD_RANK + i[which]))

    ok = _present(hands)
    pix = _truncated(hands, ok)
    drawn = ok & (pix >= 1).all(axis=-1)
    q, h, e = np.nonzero(drawn[:, :, HAND_A] & drawn[:, :, HAND_B])
    a, b = pix[q, h, HAND_A[e]], pix[q, h, HAND_B[e]]
    rows, cols, which = thick_lines(a[:, 0], a[:, 1], b[:, 0], b[:, 1], thin, height, width)
    parts.append((rows, cols, q[which], HAND_RANK + h[which] * HAND_RANKS + e[which]))
    q, h, k = np.nonzero(drawn)
    rows, cols, which = disks(pix[q, h, k, 0], pix[q, h, k, 1], thin, height, width)
    parts.append((rows, cols, q[which], HAND_RANK + h[which] * HAND_RANKS + len(HAND_EDGES)))

    ok = _present(face[:, FACE_INDEX])
    pix = _truncated(face[:, FACE_INDEX], ok)
    q, k = np.nonzero(ok & (pix >= 1).all(axis=-1))
    rows, cols, which = disks(pix[q, k, 0], pix[q, k, 1], thin, height, width)
    parts.append((rows, cols, q[which], np.full(len(which), FACE_RANK)))
    parts = [p for p in parts if p]
    return tuple(np.concatenate([p[n] for p in parts]) for n in range(4))


def mark_pixels(people: Sequence[Sequence[Marks2D | None] | None], height: int, width: int
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """What the marks of ``people[b]`` write into frame b: flat channel indices and uint8 values.

    The official code gives each person a fresh canvas (cheek ellipses, dimmed to 60 %, then
    head dots, hands and face dots), adds the canvases as uint8 (wrapping) and lets every
    non-zero channel replace the frame's. Here only painted pixels exist: sorting them by
    (pixel, person, rank) puts each person's last stroke at the end of its run, and the runs of
    one pixel add up to the summed canvases. Many frames cost about as many numpy calls as one,
    which is most of the cost at one or two people; the result is small, so it can be computed
    ahead of the frames it goes on (``frame.put(*pixels)`` paints it).
    """
    size = height * width * 3
    empty = [(np.zeros(0, np.int64), np.zeros(0, np.uint8)) for _ in people]
    found = [(b, p, m) for b, frame_people in enumerate(people) for p, m in enumerate(frame_people or ()) if m is not None]
    if not found:
        return empty
    rows, cols, who, rank = _strokes([m for _, _, m in found], height, width)
    if not len(rows):
        return empty
    frame_of = np.array([b for b, _, _ in found])[who]
    person_of = np.array([p for _, p, _ in found])
    # Sort keys hold pixel, person and rank in bit fields: shifts and masks are cheaper than
    # division on arrays of this size.
    person_bits = int(person_of.max()).bit_length()
    rank_bits = (len(STROKE_COLORS) - 1).bit_length()
    pixel = (frame_of * height + rows) * width + cols
    key = np.sort((((pixel << person_bits) | person_of[who]) << rank_bits) | rank)
    layer = key >> rank_bits
    last = np.append(layer[1:] != layer[:-1], True)
    pixel, color = layer[last] >> person_bits, STROKE_COLORS.take(key[last] & ((1 << rank_bits) - 1), axis=0)
    first = np.flatnonzero(np.insert(pixel[1:] != pixel[:-1], 0, True))
    if len(first) < len(pixel):
        color = np.add.reduceat(color, first, axis=0, dtype=np.uint8)
        pixel = pixel[first]
    channel = (pixel[:, None] * 3 + np.arange(3)).ravel()
    color = color.ravel()
    lit = color != 0
    channel, color = channel[lit], color[lit]
    cuts = np.searchsorted(channel, np.arange(1, len(people)) * size)
    return [(part - b * size, value)
            for b, (part, value) in enumerate(zip(np.split(channel, cuts), np.split(color, cuts)))]


def draw_marks(frame: np.ndarray, people: Sequence[Marks2D | None]) -> None:
    """Paint the marks of all ``people`` over ``frame`` (uint8 [H, W, 3], modified in place)."""
    frame.put(*mark_pixels([people], *frame.shape[:2])[0])
