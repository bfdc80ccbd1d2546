"""The 2D marks SCAIL draws over its 3D skeleton: cheek lines, face points, hands.

The official pipeline draws them with OpenCV (``draw_bodypose_augmentation`` with
``all_cheek_aug``, ``draw_handpose``, ``draw_facepose`` with ``optimized_face``) onto one
canvas per person, sums the canvases as uint8 and pastes every non-zero channel over the
render. The model learnt those exact pixels, so this module reproduces OpenCV's integer
rasterisation (midpoint circles, Bresenham lines with OpenCV's clipping, ``ellipse2Poly`` with
its 1-degree sine table, ``fillConvexPoly``'s fixed-point scan) in numpy, without OpenCV.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import InputError
from .camera import Intrinsics

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


# ---- OpenCV-equivalent rasterisers; each returns (rows, cols) clipped to the image. ----

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT


@lru_cache(maxsize=8)
def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets of OpenCV's filled midpoint circle (``cv2.circle`` thickness -1, LINE_8)."""
    rows, cols = [], []
    err, dx, dy, plus, minus = 0, radius, 0, 1, 2 * radius - 1
    while dx >= dy:
        for row, half in ((-dy, dx), (dy, dx), (-dx, dy), (dx, dy)):
            span = range(-half, half + 1)
            rows.extend([row] * len(span))
            cols.extend(span)
        dy += 1
        err += plus
        plus += 2
        if err > 0:
            err -= minus
            dx -= 1
            minus -= 2
    pairs = np.unique(np.array([rows, cols]).T, axis=0)
    return pairs[:, 0], pairs[:, 1]


def _clip(rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return rows[keep], cols[keep]


def disk(cx: int, cy: int, radius: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    dr, dc = _disk_offsets(int(radius))
    return _clip(dr + int(cy), dc + int(cx), height, width)


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero), as OpenCV's clipping does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def clip_line(width: int, height: int, x1: int, y1: int, x2: int, y2: int) -> tuple[bool, int, int, int, int]:
    """OpenCV's integer ``clipLine`` against [0, width) x [0, height)."""
    right, bottom = width - 1, height - 1

    def code(x: int, y: int) -> int:
        return (x < 0) + (x > right) * 2 + (y < 0) * 4 + (y > bottom) * 8

    c1, c2 = code(x1, y1), code(x2, y2)
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            edge = 0 if c1 < 8 else bottom
            x1 += _cdiv((edge - y1) * (x2 - x1), y2 - y1)
            y1 = edge
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            edge = 0 if c2 < 8 else bottom
            x2 += _cdiv((edge - y2) * (x2 - x1), y2 - y1)
            y2 = edge
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                edge = 0 if c1 == 1 else right
                y1 += _cdiv((edge - x1) * (y2 - y1), x2 - x1)
                x1 = edge
                c1 = 0
            if c2:
                edge = 0 if c2 == 1 else right
                y2 += _cdiv((edge - x2) * (y2 - y1), x2 - x1)
                x2 = edge
                c2 = 0
    return (c1 | c2) == 0, x1, y1, x2, y2


def thin_line(x1: int, y1: int, x2: int, y2: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.line`` with thickness 1, LINE_8: clip, then Bresenham walked left to right."""
    x1, y1, x2, y2 = int(x1), int(y1), int(x2), int(y2)
    if not (0 <= x1 < width and 0 <= x2 < width and 0 <= y1 < height and 0 <= y2 < height):
        inside, x1, y1, x2, y2 = clip_line(width, height, x1, y1, x2, y2)
        if not inside:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if x2 < x1:
        x1, y1, x2, y2 = x2, y2, x1, y1
    dx, dy = x2 - x1, abs(y2 - y1)
    sy = -1 if y2 < y1 else 1
    steep = dy > dx
    major, minor = (dy, dx) if steep else (dx, dy)
    i = np.arange(major + 1, dtype=np.int64)
    if major == 0:
        side = np.zeros(1, np.int64)
    else:
        side = (2 * minor * i + major - 1) // (2 * major)
    if steep:
        return y1 + sy * i, x1 + side
    return y1 + sy * side, x1 + i


def _line_fixed(p0: tuple[int, int], p1: tuple[int, int], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``Line2``: a line between 16.16 fixed-point ends, sampled per major step."""
    ok, x1, y1, x2, y2 = clip_line(width << XY_SHIFT, height << XY_SHIFT, p0[0], p0[1], p1[0], p1[1])
    if not ok:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    dx, dy = x2 - x1, y2 - y1
    if abs(dx) > abs(dy):
        if dx < 0:
            x1, y1, x2, y2 = x2, y2, x1, y1
            dy = -dy
        ax = abs(dx)
        step = _cdiv(dy << XY_SHIFT, ax | 1)
        count = (x2 - x1) >> XY_SHIFT
        k = np.arange(count + 1, dtype=np.int64)
        cols = ((x1 + (XY_ONE >> 1)) >> XY_SHIFT) + k
        rows = (y1 + (XY_ONE >> 1) + k * step) >> XY_SHIFT
    else:
        if dy < 0:
            x1, y1, x2, y2 = x2, y2, x1, y1
            dx = -dx
        ay = abs(dy)
        step = _cdiv(dx << XY_SHIFT, ay | 1)
        count = (y2 - y1) >> XY_SHIFT
        k = np.arange(count + 1, dtype=np.int64)
        rows = ((y1 + (XY_ONE >> 1)) >> XY_SHIFT) + k
        cols = (x1 + (XY_ONE >> 1) + k * step) >> XY_SHIFT
    end_r = np.array([(y2 + (XY_ONE >> 1)) >> XY_SHIFT])
    end_c = np.array([(x2 + (XY_ONE >> 1)) >> XY_SHIFT])
    return _clip(np.concatenate((end_r, rows)), np.concatenate((end_c, cols)), height, width)


def fill_convex(points: np.ndarray, height: int, width: int, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.fillConvexPoly`` (LINE_8) of integer vertices with ``shift`` fractional bits.

    OpenCV first strokes every edge, then fills the rows between two edge walkers that start
    at the top vertex and step x in 16.16 fixed point; both parts are reproduced.
    """
    v = [(int(x), int(y)) for x, y in np.asarray(points).reshape(-1, 2)]
    n = len(v)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    up = XY_SHIFT - shift
    prev = (v[-1][0] << up, v[-1][1] << up)
    for x, y in v:
        cur = (x << up, y << up)
        if shift == 0:
            r, c = thin_line(prev[0] >> XY_SHIFT, prev[1] >> XY_SHIFT, cur[0] >> XY_SHIFT, cur[1] >> XY_SHIFT, height, width)
        else:
            r, c = _line_fixed(prev, cur, height, width)
        rows.append(r)
        cols.append(c)
        prev = cur
    delta = (1 << shift) >> 1
    xs = [p[0] for p in v]
    ys = [p[1] for p in v]
    ymin_raw = min(ys)
    top = ys.index(ymin_raw)
    xmin, xmax = (min(xs) + delta) >> shift, (max(xs) + delta) >> shift
    ymin, ymax = (ymin_raw + delta) >> shift, (max(ys) + delta) >> shift
    if n >= 3 and xmax >= 0 and ymax >= 0 and xmin < width and ymin < height:
        ymax = min(ymax, height - 1)
        remaining = n
        # Per walker: vertex index, direction, fixed-point x, x step, row where it ends.
        walkers = [[top, 1, -XY_ONE, 0, ymin], [top, n - 1, -XY_ONE, 0, ymin]]
        y = ymin
        while True:
            for w in walkers:
                if y < w[4]:
                    continue
                i0 = w[0]
                i1 = (i0 + w[1]) % n
                while True:
                    remaining -= 1
                    if remaining < 0:
                        break
                    ty = (v[i1][1] + delta) >> shift
                    if ty > y:
                        xs0, xe = v[i0][0] << up, v[i1][0] << up
                        w[2], w[4], w[0] = xs0, ty, i1
                        w[3] = _cdiv((xe - xs0) * 2 + (ty - y), 2 * (ty - y))
                        break
                    i0 = i1
                    i1 = (i1 + w[1]) % n
            if remaining < 0:
                break
            if y >= 0:
                left, right = sorted((walkers[0][2], walkers[1][2]))
                x1 = (left + (XY_ONE >> 1)) >> XY_SHIFT
                x2 = (right + (XY_ONE >> 1)) >> XY_SHIFT
                if x2 >= 0 and x1 < width:
                    span = np.arange(max(x1, 0), min(x2, width - 1) + 1, dtype=np.int64)
                    rows.append(np.full(len(span), y, np.int64))
                    cols.append(span)
            walkers[0][2] += walkers[0][3]
            walkers[1][2] += walkers[1][3]
            y += 1
            if y > ymax:
                break
    return np.concatenate(rows), np.concatenate(cols)


def _sin_table() -> np.ndarray:
    """OpenCV's float sine table: sin of whole degrees 0..450, rounded to 7 decimals."""
    return np.array([round(math.sin(math.radians(d)), 7) for d in range(451)], dtype=np.float32).astype(np.float64)


SIN_TABLE = _sin_table()


def ellipse_polygon(cx: int, cy: int, half_length: int, half_width: int, angle: int) -> np.ndarray:
    """``cv2.ellipse2Poly(center, axes, angle, 0, 360, 1)``: integer outline [N, 2]."""
    angle = int(angle) % 360 if int(angle) != 360 else 360
    alpha, beta = SIN_TABLE[450 - angle], SIN_TABLE[angle]  # cos, sin of the rotation
    deg = np.arange(361)
    x = half_length * SIN_TABLE[450 - deg]
    y = half_width * SIN_TABLE[deg]
    px = np.rint(cx + x * alpha - y * beta).astype(np.int64)
    py = np.rint(cy + x * beta + y * alpha).astype(np.int64)
    keep = np.ones(len(px), bool)
    keep[1:] = (px[1:] != px[:-1]) | (py[1:] != py[:-1])
    pts = np.stack((px[keep], py[keep]), axis=1)
    if len(pts) == 1:
        pts = np.array([[cx, cy], [cx, cy]], np.int64)
    return pts


def thick_line(x1: int, y1: int, x2: int, y2: int, thickness: int, height: int, width: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.line`` of any thickness (LINE_8): thin Bresenham, or a quad plus round caps."""
    if thickness <= 1:
        return thin_line(x1, y1, x2, y2, height, width)
    p0 = (int(x1) << XY_SHIFT, int(y1) << XY_SHIFT)
    p1 = (int(x2) << XY_SHIFT, int(y2) << XY_SHIFT)
    dx = (p0[0] - p1[0]) / XY_ONE
    dy = (p1[1] - p0[1]) / XY_ONE
    half = thickness << (XY_SHIFT - 1)
    parts = []
    r2 = dx * dx + dy * dy
    if abs(r2) > np.finfo(np.float64).eps:
        scale = (half + (thickness & 1) * XY_ONE * 0.5) / math.sqrt(r2)
        ox, oy = int(np.rint(dy * scale)), int(np.rint(dx * scale))
        quad = np.array([(p0[0] + ox, p0[1] + oy), (p0[0] - ox, p0[1] - oy),
                         (p1[0] - ox, p1[1] - oy), (p1[0] + ox, p1[1] + oy)], np.int64)
        parts.append(fill_convex(quad, height, width, shift=XY_SHIFT))
    cap = (half + (XY_ONE >> 1)) >> XY_SHIFT
    for px, py in (p0, p1):
        parts.append(disk((px + (XY_ONE >> 1)) >> XY_SHIFT, (py + (XY_ONE >> 1)) >> XY_SHIFT, cap, height, width))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---- Drawing one person's marks and compositing them over a frame. ----

def _present(points: np.ndarray) -> np.ndarray:
    return np.isfinite(points).all(axis=-1)


def _truncated(point: np.ndarray) -> tuple[int, int]:
    return int(point[0]), int(point[1])


def _person_strokes(marks: Marks2D, height: int, width: int) -> list[tuple[str, np.ndarray, np.ndarray, tuple[int, int, int]]]:
    """Primitives of one person in painting order: ("cheek" | "mark", rows, cols, colour)."""
    strokes = []
    thin = thin_thickness(height, width)
    if marks.head is not None:
        head = marks.head
        ok = _present(head)
        for (i, j), color in zip(CHEEK_LINES, CHEEK_COLORS):
            if not (ok[i] and ok[j]):
                continue
            (x0, y0), (x1, y1) = head[i], head[j]
            length = ((y0 - y1) ** 2 + (x0 - x1) ** 2) ** 0.5
            angle = math.degrees(math.atan2(y0 - y1, x0 - x1))
            poly = ellipse_polygon(int((x0 + x1) / 2), int((y0 + y1) / 2), int(length / 2), CHEEK_HALF_WIDTH, int(angle))
            strokes.append(("cheek", *fill_convex(poly, height, width), color))
        for i, color in enumerate(HEAD_COLORS):
            if ok[i]:
                x, y = _truncated(head[i])
                strokes.append(("mark", *disk(x, y, HEAD_DOT_RADIUS, height, width), color))
    if marks.hands is not None:
        for hand in marks.hands:
            ok = _present(hand)
            pix = [_truncated(p) if good else (0, 0) for p, good in zip(hand, ok)]
            drawn = [good and x >= 1 and y >= 1 for (x, y), good in zip(pix, ok)]
            for (i, j), color in zip(HAND_EDGES, HAND_EDGE_COLORS):
                if drawn[i] and drawn[j]:
                    strokes.append(("mark", *thick_line(*pix[i], *pix[j], thin, height, width), color))
            for (x, y), good in zip(pix, drawn):
                if good:
                    strokes.append(("mark", *disk(x, y, thin, height, width), HAND_DOT_COLOR))
    if marks.face is not None:
        face = marks.face
        ok = _present(face)
        for i in FACE_POINTS:
            if ok[i]:
                x, y = _truncated(face[i])
                if x >= 1 and y >= 1:
                    strokes.append(("mark", *disk(x, y, thin, height, width), FACE_COLOR))
    return strokes


def draw_marks(frame: np.ndarray, people: "list[Marks2D | None] | tuple[Marks2D | None, ...]") -> None:
    """Paint the marks of all people over ``frame`` (uint8 [H, W, 3], modified in place).

    Per person a fresh canvas: cheek ellipses, dimmed to 60 % (truncated), then head dots,
    hands and face dots at full strength. Canvases add up as uint8 (wrapping, like the
    official numpy sum) and every non-zero canvas channel replaces the frame's channel.
    """
    height, width = frame.shape[:2]
    per_person = [_person_strokes(m, height, width) for m in people if m is not None]
    all_rows = [s[1] for strokes in per_person for s in strokes if len(s[1])]
    if not all_rows:
        return
    all_cols = [s[2] for strokes in per_person for s in strokes if len(s[2])]
    r0, r1 = min(r.min() for r in all_rows), max(r.max() for r in all_rows) + 1
    c0, c1 = min(c.min() for c in all_cols), max(c.max() for c in all_cols) + 1
    total = np.zeros((r1 - r0, c1 - c0, 3), np.uint8)
    for strokes in per_person:
        canvas = np.zeros_like(total)
        cheeks = [s for s in strokes if s[0] == "cheek"]
        for _, rows, cols, color in cheeks:
            canvas[rows - r0, cols - c0] = color
        if cheeks:
            canvas[:] = (canvas * CHEEK_DIM).astype(np.uint8)
        for kind, rows, cols, color in strokes:
            if kind == "mark":
                canvas[rows - r0, cols - c0] = color
        total += canvas
    region = frame[r0:r1, c0:c1]
    np.copyto(region, total, where=total != 0)
