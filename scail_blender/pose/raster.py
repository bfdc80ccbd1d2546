"""OpenCV's integer rasterisers (LINE_8), reproduced in numpy and batched over many primitives.

The 2D marks must land on exactly the pixels OpenCV paints (the model learnt those pixels), so
these functions follow OpenCV's integer arithmetic: midpoint circles, Bresenham lines with its
``clipLine``, ``ellipse2Poly`` with its 1-degree sine table and ``fillConvexPoly``'s 16.16
fixed-point edge walkers. Each batched function takes arrays of N primitives and returns the
covered pixels as ``(rows, cols, which)``: clipped to the image, ``which`` naming the primitive
each pixel belongs to. A frame has about a hundred tiny primitives: drawn one Python call at a
time they cost as much as the capsule render on a CPU core (twice as much as the GPU render);
batched, a whole batch of frames costs a few dozen numpy calls. The single-primitive forms
(``disk``, ``thin_line``, ...) are conveniences.

Coordinates are int64; mark points are kept within ``MAX_COORD`` pixels so that the fixed-point
products of the line clipper (up to 4 * (MAX_COORD << 16) ** 2) cannot overflow.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT
HALF = XY_ONE >> 1
MAX_COORD = 1 << 14

Pixels = tuple[np.ndarray, np.ndarray, np.ndarray]


def _ints(*values) -> list[np.ndarray]:
    return [np.atleast_1d(np.asarray(v, dtype=np.int64)) for v in values]


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of the given lengths: which run each element is in, and its index within the run."""
    which = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return which, np.arange(len(which)) - starts[which]


def _keep_inside(rows: np.ndarray, cols: np.ndarray, which: np.ndarray, height: int, width: int) -> Pixels:
    keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return rows[keep], cols[keep], which[keep]


def _cdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C integer division (truncating toward zero), as OpenCV's integer code divides."""
    q = np.abs(a) // np.abs(b)
    return np.where((a >= 0) == (b >= 0), q, -q)


# ---- Filled circles (cv2.circle, thickness -1). ----

@lru_cache(maxsize=8)
def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets of OpenCV's filled midpoint circle of ``radius``."""
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


def disks(cx: np.ndarray, cy: np.ndarray, radius: int, height: int, width: int) -> Pixels:
    """Filled circles of one radius at integer centres."""
    cx, cy = _ints(cx, cy)
    dr, dc = _disk_offsets(int(radius))
    which = np.repeat(np.arange(len(cx)), len(dr))
    return _keep_inside((cy[:, None] + dr).ravel(), (cx[:, None] + dc).ravel(), which, height, width)


def disk(cx: int, cy: int, radius: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return disks(cx, cy, radius, height, width)[:2]


# ---- Lines. ----

def clip_lines(width: int, height: int, x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's ``clipLine`` against [0, width) x [0, height): (visible, x1, y1, x2, y2).

    OpenCV moves the first end onto the top/bottom edge, then the second (using the moved
    first end), then both onto the left/right edges; each step is a masked update here.
    """
    right, bottom = width - 1, height - 1

    def code(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x < 0) + (x > right) * 2 + (y < 0) * 4 + (y > bottom) * 8

    def cut(mask: np.ndarray, across: np.ndarray, along: np.ndarray, edge: np.ndarray,
            d_across: np.ndarray, d_along: np.ndarray) -> np.ndarray:
        """``across`` moved to where the line meets ``along == edge`` (where ``mask``)."""
        step = _cdiv((edge - along) * d_across, np.where(mask, d_along, 1))
        return np.where(mask, across + step, across)

    c1, c2 = code(x1, y1), code(x2, y2)
    partly = ((c1 & c2) == 0) & ((c1 | c2) != 0)
    if partly.any():
        m = partly & ((c1 & 12) != 0)
        edge = np.where(c1 < 8, 0, bottom)
        x1 = cut(m, x1, y1, edge, x2 - x1, y2 - y1)
        y1 = np.where(m, edge, y1)
        c1 = np.where(m, (x1 < 0) + (x1 > right) * 2, c1)
        m = partly & ((c2 & 12) != 0)
        edge = np.where(c2 < 8, 0, bottom)
        x2 = cut(m, x2, y2, edge, x2 - x1, y2 - y1)
        y2 = np.where(m, edge, y2)
        c2 = np.where(m, (x2 < 0) + (x2 > right) * 2, c2)
        partly &= ((c1 & c2) == 0) & ((c1 | c2) != 0)
        m = partly & (c1 != 0)
        edge = np.where(c1 == 1, 0, right)
        y1 = cut(m, y1, x1, edge, y2 - y1, x2 - x1)
        x1 = np.where(m, edge, x1)
        c1 = np.where(m, 0, c1)
        m = partly & (c2 != 0)
        edge = np.where(c2 == 1, 0, right)
        y2 = cut(m, y2, x2, edge, y2 - y1, x2 - x1)
        x2 = np.where(m, edge, x2)
        c2 = np.where(m, 0, c2)
    return (c1 | c2) == 0, x1, y1, x2, y2


def thin_lines(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, height: int, width: int) -> Pixels:
    """``cv2.line`` with thickness 1: clip, then Bresenham walked left to right."""
    x1, y1, x2, y2 = _ints(x1, y1, x2, y2)
    ok, x1, y1, x2, y2 = clip_lines(width, height, x1, y1, x2, y2)
    index = np.flatnonzero(ok)
    x1, y1, x2, y2 = x1[ok], y1[ok], x2[ok], y2[ok]
    flip = x2 < x1
    x1, x2 = np.where(flip, x2, x1), np.where(flip, x1, x2)
    y1, y2 = np.where(flip, y2, y1), np.where(flip, y1, y2)
    dx, dy = x2 - x1, np.abs(y2 - y1)
    sy = np.where(y2 < y1, -1, 1)
    steep = dy > dx
    major, minor = np.where(steep, dy, dx), np.where(steep, dx, dy)
    seg, i = _expand(major + 1)
    major_s = major[seg]
    side = np.where(major_s == 0, 0, (2 * minor[seg] * i + major_s - 1) // (2 * np.maximum(major_s, 1)))
    steep_s = steep[seg]
    rows = y1[seg] + sy[seg] * np.where(steep_s, i, side)
    cols = x1[seg] + np.where(steep_s, side, i)
    return rows, cols, index[seg]


def thin_line(x1: int, y1: int, x2: int, y2: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return thin_lines(x1, y1, x2, y2, height, width)[:2]


def _fixed_lines(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, height: int, width: int) -> Pixels:
    """OpenCV's ``Line2``: lines between 16.16 fixed-point ends, one pixel per major step plus the end."""
    ok, x1, y1, x2, y2 = clip_lines(width << XY_SHIFT, height << XY_SHIFT, x1, y1, x2, y2)
    index = np.flatnonzero(ok)
    x1, y1, x2, y2 = x1[ok], y1[ok], x2[ok], y2[ok]
    wide = np.abs(x2 - x1) > np.abs(y2 - y1)
    flip = np.where(wide, x2 < x1, y2 < y1)
    x1, x2 = np.where(flip, x2, x1), np.where(flip, x1, x2)
    y1, y2 = np.where(flip, y2, y1), np.where(flip, y1, y2)
    major1, major2 = np.where(wide, x1, y1), np.where(wide, x2, y2)
    minor1, minor2 = np.where(wide, y1, x1), np.where(wide, y2, x2)
    step = _cdiv((minor2 - minor1) << XY_SHIFT, (major2 - major1) | 1)
    seg, k = _expand(((major2 - major1) >> XY_SHIFT) + 1)
    major = ((major1[seg] + HALF) >> XY_SHIFT) + k
    minor = (minor1[seg] + HALF + k * step[seg]) >> XY_SHIFT
    wide_s = wide[seg]
    rows = np.concatenate(((y2 + HALF) >> XY_SHIFT, np.where(wide_s, minor, major)))
    cols = np.concatenate(((x2 + HALF) >> XY_SHIFT, np.where(wide_s, major, minor)))
    return _keep_inside(rows, cols, np.concatenate((index, index[seg])), height, width)


def thick_lines(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, thickness: int,
                height: int, width: int) -> Pixels:
    """``cv2.line`` of any thickness: thin Bresenham, or a filled quad plus two round caps."""
    if thickness <= 1:
        return thin_lines(x1, y1, x2, y2, height, width)
    x1, y1, x2, y2 = _ints(x1, y1, x2, y2)
    half = thickness << (XY_SHIFT - 1)
    dx = (x1 - x2).astype(np.float64)  # OpenCV's fixed-point difference / XY_ONE, exactly
    dy = (y2 - y1).astype(np.float64)
    r2 = dx * dx + dy * dy
    sized = np.flatnonzero(np.abs(r2) > np.finfo(np.float64).eps)
    scale = (half + (thickness & 1) * XY_ONE * 0.5) / np.sqrt(r2[sized])
    ox = np.rint(dy[sized] * scale).astype(np.int64)
    oy = np.rint(dx[sized] * scale).astype(np.int64)
    p0x, p0y = x1[sized] << XY_SHIFT, y1[sized] << XY_SHIFT
    p1x, p1y = x2[sized] << XY_SHIFT, y2[sized] << XY_SHIFT
    quads = np.stack((np.stack((p0x + ox, p0y + oy), 1), np.stack((p0x - ox, p0y - oy), 1),
                      np.stack((p1x - ox, p1y - oy), 1), np.stack((p1x + ox, p1y + oy), 1)), 1)
    qr, qc, qw = fill_convex_polys(quads.reshape(-1, 2), np.full(len(sized), 4), height, width, XY_SHIFT)
    cap = (half + HALF) >> XY_SHIFT
    ends_r, ends_c, ends_w = disks(np.concatenate((x1, x2)), np.concatenate((y1, y2)), cap, height, width)
    return (np.concatenate((qr, ends_r)), np.concatenate((qc, ends_c)),
            np.concatenate((sized[qw], ends_w % len(x1))))


def thick_line(x1: int, y1: int, x2: int, y2: int, thickness: int, height: int, width: int
               ) -> tuple[np.ndarray, np.ndarray]:
    return thick_lines(x1, y1, x2, y2, thickness, height, width)[:2]


# ---- Filled convex polygons (cv2.fillConvexPoly) and ellipse outlines (cv2.ellipse2Poly). ----

def fill_convex_polys(points: np.ndarray, counts: np.ndarray, height: int, width: int, shift: int = 0) -> Pixels:
    """``cv2.fillConvexPoly`` of polygons given as consecutive vertex runs.

    ``points`` [V, 2] integer vertices with ``shift`` fractional bits, ``counts`` [N] vertices
    per polygon (each at least 1). OpenCV strokes every edge, then fills rows between two
    walkers that leave the top vertex in opposite directions. Each walker moves on to the next
    edge that ends below the current row, so at row y it is on the first edge of its chain whose
    end row exceeds y, which started at the highest end row seen before it; every edge it
    passes counts against one shared budget of N edges, and the fill stops at the first row
    where the two walkers together need more. That turns the row loop into searches over
    running maxima, for all rows of all polygons at once.
    """
    pts = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    counts = np.asarray(counts, dtype=np.int64)
    xs, ys = pts[:, 0], pts[:, 1]
    starts = np.cumsum(counts) - counts
    poly, local = _expand(counts)
    previous = np.arange(len(pts)) - 1
    previous[starts] = starts + counts - 1
    up = XY_SHIFT - shift
    if shift == 0:
        # Every vertex ends a stroked edge, and an edge to a neighbouring pixel is just its two
        # ends (ellipse outlines are mostly such), so only longer edges need Bresenham.
        far = np.flatnonzero(np.maximum(np.abs(xs - xs[previous]), np.abs(ys - ys[previous])) > 1)
        lines = thin_lines(xs[previous[far]], ys[previous[far]], xs[far], ys[far], height, width)
        corners = _keep_inside(ys, xs, poly, height, width)
        edges = tuple(np.concatenate(pair) for pair in zip(corners, (lines[0], lines[1], poly[far][lines[2]])))
    else:
        edges = _fixed_lines(xs[previous] << up, ys[previous] << up, xs << up, ys << up, height, width)
        edges = edges[0], edges[1], poly[edges[2]]

    delta = (1 << shift) >> 1
    rounded_y = (ys + delta) >> shift
    ymin_raw = np.minimum.reduceat(ys, starts)
    xmin = (np.minimum.reduceat(xs, starts) + delta) >> shift
    xmax = (np.maximum.reduceat(xs, starts) + delta) >> shift
    ymin = (ymin_raw + delta) >> shift
    ymax = (np.maximum.reduceat(ys, starts) + delta) >> shift
    filled = np.flatnonzero((counts >= 3) & (xmax >= 0) & (ymax >= 0) & (xmin < width) & (ymin < height))
    if not len(filled):
        return edges
    n, first = counts[filled], starts[filled]
    top = np.minimum.reduceat(np.where(ys == np.repeat(ymin_raw, counts), local, len(pts)), starts)[filled]
    # Rows that may be filled: the visible part of [ymin, ymax]; a row holds one span.
    row_poly, row_k = _expand(np.maximum(np.minimum(ymax[filled], height - 1) - np.maximum(ymin[filled], 0) + 1, 0))
    y = np.maximum(ymin[filled], 0)[row_poly] + row_k
    # Chains: positions 0..n of each walker (position n is the top vertex again), all in one
    # array; lifting each chain into its own band of values keeps running maxima per chain.
    chain_poly, j = _expand(n + 1)
    chain_start = np.cumsum(n + 1) - (n + 1)
    low = rounded_y.min()
    band = rounded_y.max() - low + 1
    row_band = band * row_poly
    used, ends = [], []
    for direction in (1, -1):
        vertex = first[chain_poly] + (top[chain_poly] + direction * j) % n[chain_poly]
        reach = np.maximum.accumulate(rounded_y[vertex] - low + band * chain_poly)
        # At row y the walker is on the edge ending at the first position that reaches past y;
        # it has used that many edges (n + 1 when none is left, which ends the fill).
        end = np.searchsorted(reach, y - low + row_band, side="right")
        used.append(end - chain_start[row_poly])
        start_vertex, end_vertex = vertex[end - 1], vertex[np.minimum(end, len(vertex) - 1)]
        start_row = reach[end - 1] - row_band + low
        rise = np.maximum(rounded_y[end_vertex] - start_row, 1)  # < 1 only where no edge was left
        x0 = xs[start_vertex] << up
        slope = _cdiv(((xs[end_vertex] << up) - x0) * 2 + rise, 2 * rise)
        ends.append(x0 + (y - start_row) * slope)
    live = used[0] + used[1] <= n[row_poly]
    left = (np.minimum(ends[0], ends[1]) + HALF) >> XY_SHIFT
    right = (np.maximum(ends[0], ends[1]) + HALF) >> XY_SHIFT
    live &= (right >= 0) & (left < width)
    left, right = np.maximum(left[live], 0), np.minimum(right[live], width - 1)
    span, offset = _expand(right - left + 1)
    return (np.concatenate((edges[0], y[live][span])), np.concatenate((edges[1], left[span] + offset)),
            np.concatenate((edges[2], filled[row_poly[live]][span])))


def fill_convex(points: np.ndarray, height: int, width: int, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points).reshape(-1, 2)
    return fill_convex_polys(pts, np.array([len(pts)]), height, width, shift)[:2]


def _sin_table() -> np.ndarray:
    """OpenCV's float sine table: sin of whole degrees 0..450, rounded to 7 decimals."""
    return np.array([round(math.sin(math.radians(d)), 7) for d in range(451)], dtype=np.float32).astype(np.float64)


SIN_TABLE = _sin_table()
DEGREES = np.arange(361)


def ellipse_polygons(cx: np.ndarray, cy: np.ndarray, half_length: np.ndarray, half_width: int, angle: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.ellipse2Poly(center, axes, angle, 0, 360, 1)`` of N ellipses: vertices [V, 2], counts [N].

    OpenCV keeps a point only when it differs from the one before, and turns an outline that
    collapsed to one point into two copies of the centre.
    """
    cx, cy, length, angle = _ints(cx, cy, half_length, angle)
    angle = np.where(angle == 360, 360, angle % 360)
    alpha, beta = SIN_TABLE[450 - angle][:, None], SIN_TABLE[angle][:, None]
    x = length[:, None] * SIN_TABLE[450 - DEGREES]
    y = half_width * SIN_TABLE[DEGREES]
    px = np.rint(cx[:, None] + x * alpha - y * beta).astype(np.int64)
    py = np.rint(cy[:, None] + x * beta + y * alpha).astype(np.int64)
    keep = np.ones(px.shape, bool)
    keep[:, 1:] = (px[:, 1:] != px[:, :-1]) | (py[:, 1:] != py[:, :-1])
    keep[keep.sum(axis=1) == 1, 1] = True  # point 1 equals point 0 there: both are the centre
    return np.stack((px[keep], py[keep]), axis=1), keep.sum(axis=1)


def ellipse_polygon(cx: int, cy: int, half_length: int, half_width: int, angle: int) -> np.ndarray:
    return ellipse_polygons(cx, cy, half_length, half_width, angle)[0]
