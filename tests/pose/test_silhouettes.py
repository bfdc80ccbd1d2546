"""The mesh z-buffer of SCAIL-2 masks against a brute-force ray caster (one ray per pixel centre,
Moeller-Trumbore), and the capsule stand-in against the pose render's own silhouettes."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.pose import silhouettes
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.capsules import check_joints, depth_range, joint_validity
from scail_blender.pose.render import PoseRenderer
from scail_blender.pose.silhouettes import LabelFrames, capsule_depth, clip_near, nearest_person, triangle_depth
from scail_blender.pose.skeleton import palettes_for, smpl_to_scail
from scail_blender.pose.synthetic import crossing

H, W = 48, 64
INTR = Intrinsics(60.0, 60.0, 31.5, 23.5)


def ray_cast(tris: np.ndarray, near: float, far: float = np.inf) -> np.ndarray:
    """Per pixel centre the z of the nearest triangle hit with near <= z <= far (inf if none)."""
    xs, ys = np.meshgrid(np.arange(W), np.arange(H))
    d = np.stack([(xs - INTR.cx) / INTR.fx, (ys - INTR.cy) / INTR.fy, np.ones_like(xs, float)], axis=-1)
    best = np.full((H, W), np.inf)
    for a, b, c in np.asarray(tris, np.float64):
        e1, e2 = b - a, c - a
        p = np.cross(d, e2)
        det = p @ e1
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (-a @ p.reshape(-1, 3).T).reshape(H, W) / det
            q = np.cross(-a, e1)
            v = (d @ q) / det
            t = (e2 @ q) / det  # z of the hit, since d has z = 1
        hit = (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= near) & (t <= far)
        best = np.where(hit & (t < best), t, best)
    return best


def random_triangles(rng: np.random.Generator, n: int, z=(500.0, 3000.0)) -> np.ndarray:
    centre = np.stack([rng.uniform(-700, 700, n), rng.uniform(-500, 500, n), rng.uniform(*z, n)], axis=1)
    return centre[:, None, :] + rng.normal(0, 250, (n, 3, 3))


def test_coverage_and_depth_match_a_ray_caster() -> None:
    tris = random_triangles(np.random.default_rng(0), 40)
    ours, truth = triangle_depth(tris, INTR, (H, W), near=100.0), ray_cast(tris, 100.0)
    assert np.array_equal(np.isfinite(ours), np.isfinite(truth))
    assert np.isfinite(truth).sum() > H * W // 4, "the scene covers too little to test anything"
    both = np.isfinite(truth)
    np.testing.assert_allclose(ours[both], truth[both], rtol=1e-9)


def test_near_plane_cuts_triangles_and_far_plane_empties_pixels() -> None:
    # Triangles reaching behind the camera and beyond the far plane.
    tris = random_triangles(np.random.default_rng(1), 30, z=(-400.0, 900.0))
    assert (tris[..., 2] < 150).any() and (tris[..., 2] > 150).any()
    ours = triangle_depth(tris, INTR, (H, W), near=150.0, far=800.0)
    truth = ray_cast(tris, 150.0, 800.0)
    assert np.array_equal(np.isfinite(ours), np.isfinite(truth))
    both = np.isfinite(truth)
    assert both.any()
    np.testing.assert_allclose(ours[both], truth[both], rtol=1e-9)


def test_clip_near_keeps_only_the_front_part() -> None:
    tri = np.array([[[0.0, 0.0, 50.0], [100.0, 0.0, 200.0], [0.0, 100.0, 200.0]]])
    cut = clip_near(tri, 100.0)
    assert cut.shape == (2, 3, 3) and (cut[..., 2] >= 100.0 - 1e-9).all()
    two_behind = clip_near(np.array([[[0.0, 0.0, 50.0], [100.0, 0.0, 50.0], [0.0, 100.0, 200.0]]]), 100.0)
    assert two_behind.shape == (1, 3, 3) and (two_behind[..., 2] >= 100.0 - 1e-9).all()
    assert clip_near(tri, 1000.0).shape == (0, 3, 3)


def test_big_triangles_cut_in_bands_give_the_same_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    tris = random_triangles(np.random.default_rng(2), 12) * np.array([3.0, 3.0, 1.0])
    whole = triangle_depth(tris, INTR, (H, W), near=100.0)
    monkeypatch.setattr(silhouettes, "CHUNK", 37)  # less than a row: every box is cut in bands
    assert np.array_equal(triangle_depth(tris, INTR, (H, W), near=100.0), whole)


def test_occlusion_is_per_pixel_not_per_character() -> None:
    # A wall at z = 1000 and a sheet slanting through it: the sheet is nearer on the left only.
    wall = np.array([[[-2000, -2000, 1000], [2000, -2000, 1000], [2000, 2000, 1000]],
                     [[-2000, -2000, 1000], [2000, 2000, 1000], [-2000, 2000, 1000]]], float)
    sheet = wall.copy()
    sheet[..., 2] = 1000 + 0.5 * sheet[..., 0]
    labels = nearest_person([triangle_depth(wall, INTR, (H, W), 10.0), triangle_depth(sheet, INTR, (H, W), 10.0)],
                            (H, W))
    cols = np.arange(W)
    assert (labels[:, cols < INTR.cx - 1] == 1).all() and (labels[:, cols > INTR.cx + 1] == 0).all()
    assert nearest_person([], (H, W)).shape == (H, W) and (nearest_person([], (H, W)) == -1).all()


def test_capsule_stand_in_is_the_pose_render_silhouette() -> None:
    clip = crossing(frames=3)
    joints = check_joints(smpl_to_scail(clip.joints[1]), "P") * 0.5  # half size: stays in a 48x64 frame
    intr = Intrinsics(40.0, 40.0, 31.5, 23.5)
    valid, _ = joint_validity(joints)
    for p in range(joints.shape[0]):
        alone = joints[p:p + 1]
        renderer = PoseRenderer(H, W, intr, depth_range(np.where(valid[p:p + 1, ..., None], alone, 0)), palettes_for(1))
        drawn = renderer.render_with_labels(alone)[1] >= 0
        depth = capsule_depth(joints[p], intr, (H, W))
        assert drawn.any() and np.array_equal(np.isfinite(depth), drawn)
        # The z of a surface point lies within a capsule radius of the person's joint depths.
        z = depth[drawn]
        assert z.min() > joints[p][valid[p], 2].min() - 22 and z.max() < joints[p][valid[p], 2].max() + 1
        np.testing.assert_allclose(capsule_depth(joints[p], intr, (H, W), depth_scale=2.0)[drawn], z / 2, rtol=1e-6)


def test_bad_near_plane_is_refused() -> None:
    with pytest.raises(InputError, match="near clipping"):
        triangle_depth(np.zeros((1, 3, 3)), INTR, (H, W), near=0.0)


def test_no_triangles_cover_nothing() -> None:
    assert np.isinf(triangle_depth(np.zeros((0, 3, 3)), INTR, (H, W), near=1.0)).all()


def test_label_frames_round_trip_and_refuse_another_size() -> None:
    store = LabelFrames((H, W))
    frames = [np.random.default_rng(k).integers(-1, 3, (H, W)).astype(np.int32) for k in range(3)]
    for frame in frames:
        store.append(frame)
    assert len(store) == 3 and all(np.array_equal(a, b) for a, b in zip(store, frames, strict=True))
    with pytest.raises(InputError, match="label frame"):
        store.append(np.zeros((H, W + 1), np.int32))


def test_shared_edges_through_pixel_centres_leave_no_cracks() -> None:
    """Pairs of triangles sharing an edge that runs through a pixel centre at an odd slope (its
    projected ends rounded, as real meshes are): the centre goes to one of them, never to neither."""
    intr = Intrinsics(97.0, 97.0, 0.3, 0.7)
    rng = np.random.default_rng(3)
    tris = []
    for u in range(1, W - 1):
        for v in range(1, H - 1):
            d = rng.normal(size=2)
            d /= np.linalg.norm(d)
            n = np.array([-d[1], d[0]])
            corners = [(u, v) - 0.4 * d, (u, v) + 0.3 * d, (u, v) + 0.3 * n, (u, v) - 0.3 * n]
            z = rng.uniform(900.0, 1100.0)
            a, b, c, e = ((((x - intr.cx) * z / intr.fx), (y - intr.cy) * z / intr.fy, z) for x, y in corners)
            tris += [(a, b, c), (b, a, e)]
    covered = np.isfinite(triangle_depth(np.array(tris), intr, (H, W), near=1.0))
    assert covered[1:H - 1, 1:W - 1].all()


def ray_cast_all(tris: np.ndarray, near: float) -> np.ndarray:
    """``[N, H, W]``: per triangle the z of its hit at each pixel centre (inf where it misses)."""
    return np.stack([ray_cast(tri[None], near) for tri in tris])


def test_flat_shading_is_the_cosine_of_the_triangle_that_shows() -> None:
    """Mesh driving: each pixel gets |cos| between the normal and the view ray to the centre of
    the triangle the ray caster finds nearest there (pixels where two surfaces are within 1e-6
    of each other in depth, i.e. crossing lines, are left out: either may win)."""
    rng = np.random.default_rng(5)
    tris = random_triangles(rng, 30)
    depth, shade = silhouettes.triangle_shading(tris, INTR, (H, W), near=100.0)
    np.testing.assert_array_equal(depth, triangle_depth(tris, INTR, (H, W), near=100.0))
    assert np.array_equal(np.isnan(shade), np.isinf(depth))
    hits = ray_cast_all(tris, 100.0)
    order = np.sort(hits, axis=0)
    clear = np.isfinite(order[0]) & (order[1] > order[0] * (1 + 1e-6))
    assert clear.sum() > H * W // 5
    normal = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    centre = tris.mean(axis=1)
    cosine = np.abs((normal * centre).sum(1)) / np.linalg.norm(normal, axis=1) / np.linalg.norm(centre, axis=1)
    expected = cosine[np.argmin(hits, axis=0)]
    np.testing.assert_allclose(shade[clear], expected[clear], rtol=1e-9)
    assert np.ptp(shade[clear]) > 0.3, "the triangles should face the camera at many angles"


def test_mesh_grey_levels() -> None:
    """Facing the camera is the lightest grey, edge-on the darkest (never black), nobody black,
    a capsule stand-in (NaN shade) mid grey."""
    labels = np.array([[0, 1, -1, 2]])
    shade = np.array([[1.0, 0.0, 0.7, np.nan]])
    grey = silhouettes.mesh_grey(labels, shade)
    mid = round((silhouettes.MESH_DARKEST + silhouettes.MESH_LIGHTEST) / 2)
    assert grey.tolist() == [[silhouettes.MESH_LIGHTEST, silhouettes.MESH_DARKEST, 0, mid]]
    frames = list(silhouettes.GreyFrames([grey, grey]))
    assert len(frames) == 2 and frames[0].shape == (1, 4, 3) and (frames[0] == grey[..., None]).all()


def test_layered_label_frames_stream_each_layer() -> None:
    store = LabelFrames((H, W), layers=2)
    frame = np.stack([np.full((H, W), 1), np.full((H, W), 200)])
    store.append(frame)
    assert np.array_equal(store.frame(0), frame)
    with pytest.raises(InputError, match="label frame is 48x64"):
        store.append(frame[0])
