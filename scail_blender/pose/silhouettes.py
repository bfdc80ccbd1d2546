"""Which character each pixel shows, from their meshes: the silhouettes of SCAIL-2 driving masks.

Blender hands over each character's evaluated triangles (camera space, OpenCV axes, mm) and this
module rasterises them with a z-buffer in plain numpy, headless and deterministic:

- A pixel is covered when its centre (integer coordinates here, as everywhere in the pose core)
  lies inside or on the edge of a projected triangle, with no anti-aliasing: the mask is flat.
  That is where Blender's renderers shoot the ray of a pixel (Cycles with the smallest filter).
- Depth is the camera z of the surface under the pixel centre (1/z is exact to interpolate in
  screen space), so nearer characters occlude farther ones pixel by pixel, not character by
  character; triangles are clipped at the camera's near plane and pixels beyond its far plane
  stay empty, as Blender clips them.
- A character without a mesh is drawn as its capsule skeleton (``capsule_depth``), in the same
  depth units, so it takes part in the same per-pixel occlusion.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import InputError
from .camera import Intrinsics
from .capsules import build_scene, check_joints, depth_range, joint_validity
from .render import PoseRenderer
from .skeleton import palettes_for

# Candidate pixels evaluated at once: bounds memory (a few arrays of this many float64s).
CHUNK = 1 << 20


def clip_near(triangles: np.ndarray, near: float) -> np.ndarray:
    """Triangles ``[N, 3, 3]`` cut at the plane z = ``near``: the parts in front, as triangles.

    A triangle with one corner behind becomes two, with two behind one, with three none; the
    corners keep their cyclic order.
    """
    tris = np.asarray(triangles, np.float64).reshape(-1, 3, 3)
    inside = tris[..., 2] >= near
    count = inside.sum(axis=1)
    out = [tris[count == 3]]
    for kept in (1, 2):
        sel, ins = tris[count == kept], inside[count == kept]
        odd = ins if kept == 1 else ~ins  # the corner on its own side goes first
        order = (np.argmax(odd, axis=1)[:, None] + np.arange(3)) % 3
        a, b, c = (np.take_along_axis(sel, order[:, :, None], axis=1)[:, k] for k in range(3))
        ab, ac = _cut(a, b, near), _cut(a, c, near)
        if kept == 1:
            out.append(np.stack([a, ab, ac], axis=1))
        else:
            out.extend([np.stack([ab, b, c], axis=1), np.stack([ab, c, ac], axis=1)])
    return np.concatenate(out)


def _cut(p: np.ndarray, q: np.ndarray, near: float) -> np.ndarray:
    """Where the segments p-q cross z = near."""
    t = (near - p[:, 2]) / (q[:, 2] - p[:, 2])
    return p + t[:, None] * (q - p)


def triangle_depth(triangles: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int],
                   near: float, far: float = np.inf) -> np.ndarray:
    """The z-buffer ``[H, W]`` float64 of ``triangles`` ``[N, 3, 3]`` (camera space): per pixel
    the camera z of the nearest surface at its centre, inf where no triangle covers it."""
    height, width = (int(s) for s in size)
    depth = np.full(height * width, np.inf)
    for pix, pz, _ in _fragments(triangles, intrinsics, size, near, far):
        np.minimum.at(depth, pix, pz)
    return depth.reshape(height, width)


def triangle_shading(triangles: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int],
                     near: float, far: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """The z-buffer of ``triangles`` (as ``triangle_depth``) and, per pixel, the flat shade in
    [0, 1] of the triangle that shows there: |cos| of the angle between its normal and the ray
    to its centre (1 facing the camera, 0 edge-on; a mesh's winding does not matter), NaN where
    no triangle covers the pixel. Mesh driving videos are drawn from it; a second pass over the
    same fragments finds the triangle whose depth won, so the cost is two rasterisations."""
    height, width = (int(s) for s in size)
    depth = triangle_depth(triangles, intrinsics, size, near, far).reshape(-1)
    shade = np.full(height * width, np.nan)
    tris = clip_near(triangles, near)
    if len(tris):
        normal = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
        centre = tris.mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):  # degenerate triangles never cover a pixel
            cosine = np.abs((normal * centre).sum(axis=1)) / (np.linalg.norm(normal, axis=1)
                                                              * np.linalg.norm(centre, axis=1))
        for pix, pz, tri in _fragments(triangles, intrinsics, size, near, far):
            won = pz == depth[pix]  # the same float from the same fragment: exact
            shade[pix[won]] = cosine[tri[won]]
    return depth.reshape(height, width), shade.reshape(height, width)


def _fragments(triangles: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int], near: float,
               far: float) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every covered pixel centre of the triangles clipped at ``near``, in chunks: flat pixel
    index, camera z there (within ``far``) and the clipped triangle's index."""
    height, width = (int(s) for s in size)
    if not near > 0:
        raise InputError(f"the near clipping distance must be positive, got {near}")
    tris = clip_near(triangles, near)
    if not len(tris):
        return
    z = tris[..., 2]
    x = intrinsics.fx * tris[..., 0] / z + intrinsics.cx
    y = intrinsics.fy * tris[..., 1] / z + intrinsics.cy
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    x0 = np.maximum(np.ceil(x.min(axis=1)), 0)
    x1 = np.minimum(np.floor(x.max(axis=1)), width - 1)
    y0 = np.maximum(np.ceil(y.min(axis=1)), 0)
    y1 = np.minimum(np.floor(y.max(axis=1)), height - 1)
    keep = (x1 >= x0) & (y1 >= y0) & (area != 0) & np.isfinite(area)
    pieces = _pieces(np.flatnonzero(keep), x0.astype(np.int64), x1.astype(np.int64), y0.astype(np.int64),
                     y1.astype(np.int64))
    edges = _edges(x, y, area)
    with np.errstate(divide="ignore", invalid="ignore"):  # dropped (zero-area) triangles only
        slopes = 1.0 / (z * np.abs(area)[:, None])
    for tri, px0, pw, py0, ph in pieces:
        yield _cover(width, tri, edges[tri], slopes[tri], px0, pw, py0, ph, far)


def _pieces(index: np.ndarray, x0, x1, y0, y1):
    """Each kept triangle's pixel box cut into row bands of at most CHUNK pixels, grouped into
    chunks of at most CHUNK candidate pixels (one band may fill a chunk alone)."""
    w = (x1 - x0 + 1)[index]
    h = (y1 - y0 + 1)[index]
    band = np.maximum(CHUNK // w, 1)
    bands = -(-h // band)
    tri = np.repeat(index, bands)
    first = np.repeat(np.cumsum(bands) - bands, bands)
    row = np.repeat(y0[index], bands) + (np.arange(len(tri)) - first) * np.repeat(band, bands)
    rows = np.minimum(np.repeat(band, bands), np.repeat(y1[index], bands) - row + 1)
    wide = np.repeat(w, bands)
    ends = np.cumsum(wide * rows)
    start = 0
    while start < len(tri):
        stop = max(int(np.searchsorted(ends, ends[start] - wide[start] * rows[start] + CHUNK, side="right")), start + 1)
        sl = slice(start, stop)
        yield tri[sl], x0[tri[sl]], wide[sl], row[sl], rows[sl]
        start = stop


def _edges(x: np.ndarray, y: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Per triangle ``[N, 3, 3]``: for the edge opposite each corner, the coefficients (x factor,
    y factor, constant) of an edge function that is >= 0 inside and, divided by |area|, is that
    corner's weight.

    It is computed from the edge's endpoints in one canonical order and then negated where the
    triangle needs the other side (negation is exact), so two triangles sharing an edge get
    values of the same magnitude bit for bit: a pixel centre on a shared edge goes to one of
    them or both, never to neither (no cracks).
    """
    out = np.empty((len(x), 3, 3))
    for k, (i, j) in enumerate(((1, 2), (2, 0), (0, 1))):
        swap = (x[:, i] > x[:, j]) | ((x[:, i] == x[:, j]) & (y[:, i] > y[:, j]))
        ax, ay = np.where(swap, x[:, j], x[:, i]), np.where(swap, y[:, j], y[:, i])
        bx, by = np.where(swap, x[:, i], x[:, j]), np.where(swap, y[:, i], y[:, j])
        ex, ey = bx - ax, by - ay
        side = np.where(swap != (area < 0), -1.0, 1.0)[:, None]
        out[:, k] = side * np.stack([-ey, ex, ey * ax - ex * ay], axis=1)
    return out


def _cover(width: int, tri: np.ndarray, edges: np.ndarray, slopes: np.ndarray, px0: np.ndarray,
           pw: np.ndarray, py0: np.ndarray, ph: np.ndarray, far: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test every pixel centre of the given boxes against its triangle: the covered pixels, their
    z and triangle (``tri``'s entry); ``slopes`` are each corner's 1/z over |area|, so 1/z at a
    pixel is their sum weighted by the edge functions."""
    counts = pw * ph
    owner = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    wide = pw[owner]
    px = px0[owner] + local % wide
    py = py0[owner] + local // wide
    e = edges[owner]
    values = e[:, :, 0] * px[:, None] + e[:, :, 1] * py[:, None] + e[:, :, 2]
    inside = (values >= 0).all(axis=1)
    pz = 1.0 / (values[inside] * slopes[owner[inside]]).sum(axis=1)
    pix = (py * width + px)[inside]
    near_enough = pz <= far
    return pix[near_enough], pz[near_enough], tri[owner[inside]][near_enough]


def capsule_depth(joints: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int],
                  depth_scale: float = 1.0) -> np.ndarray:
    """The z-buffer ``[H, W]`` of one person's capsule skeleton ``joints`` ``[14, 3]`` (SCAIL
    slots, camera mm) as the pose render draws it; inf where it does not show. The rays stop
    where the pose render's would for this person's own depth range (at least 10 m), which is
    the clip's own limit unless someone in the clip stands farther than that.

    ``depth_scale`` undoes a scale the joints were given about the camera centre (it keeps
    their picture, not their depth): the returned z is the rendered z divided by it.
    """
    arr = check_joints(np.asarray(joints)[None], "P")
    valid, _ = joint_validity(arr)
    renderer = PoseRenderer(int(size[0]), int(size[1]), intrinsics, depth_range(np.where(valid[..., None], arr, 0)))
    z, owner = renderer.trace(build_scene(arr, valid, palettes_for(1)))
    return np.where(owner >= 0, z / depth_scale, np.inf)


def nearest_person(depths: Sequence[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """Per pixel the index of the nearest of the people's z-buffers ``depths`` (-1 = nobody),
    ``[H, W]`` int32; an exact tie goes to the lower index."""
    if not depths:
        return np.full(tuple(int(s) for s in size), -1, np.int32)
    stack = np.stack(depths)
    nearest = np.argmin(stack, axis=0).astype(np.int32)
    return np.where(np.isfinite(stack.min(axis=0)), nearest, -1).astype(np.int32)


def mesh_grey(labels: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """The mesh driving frame's grey ``[H, W]`` uint8 from a frame's person ``labels`` and the flat
    ``shade`` (0..1, NaN for a capsule stand-in) of the surface each pixel shows: light grey
    meshes on black, darker where a face turns away (never black, so a body never merges with
    the background); a character without a mesh is its capsule silhouette in mid grey."""
    level = np.where(np.isnan(shade), 0.5, np.clip(shade, 0.0, 1.0))
    grey = np.where(labels >= 0, np.rint(MESH_DARKEST + (MESH_LIGHTEST - MESH_DARKEST) * level), 0)
    return grey.astype(np.uint8)


class GreyFrames:
    """The RGB frames ``[H, W, 3]`` of a stream of mesh greys (``mesh_grey``), sized like it."""

    def __init__(self, greys) -> None:
        self.greys = greys

    def __len__(self) -> int:
        return len(self.greys)

    def __iter__(self) -> Iterator[np.ndarray]:
        for grey in self.greys:
            yield np.repeat(np.asarray(grey, np.uint8)[..., None], 3, axis=2)


# The grey levels of a surface edge-on and facing the camera in a mesh driving video.
MESH_DARKEST, MESH_LIGHTEST = 48, 235


class LabelFrames:
    """A clip's per-pixel person labels, kept compressed while the scene is read (a label frame
    is mostly background, so a long clip costs little memory) and streamed back in order. With
    ``layers`` above 1 each frame is ``[layers, H, W]`` (labels and what else a pixel carries,
    as int16), and ``layer(i)`` streams one of them."""

    def __init__(self, size: tuple[int, int], layers: int = 1) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.shape = self.size if layers == 1 else (int(layers), *self.size)
        self._frames: list[bytes] = []

    def append(self, labels: np.ndarray) -> None:
        if labels.shape != self.shape:
            raise InputError(f"a label frame is {'x'.join(map(str, labels.shape))}, the clip "
                             f"{'x'.join(map(str, self.shape))}")
        self._frames.append(zlib.compress(np.ascontiguousarray(labels, np.int16).tobytes(), 1))

    def __len__(self) -> int:
        return len(self._frames)

    def frame(self, index: int) -> np.ndarray:
        return np.frombuffer(zlib.decompress(self._frames[index]), np.int16).reshape(self.shape).astype(np.int32)

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self._frames)):
            yield self.frame(index)
