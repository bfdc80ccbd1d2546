"""The capsule renderer against a re-implementation of the official sphere tracer, and its edges."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.pose import synthetic
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.capsules import build_scene, check_joints, depth_range, joint_validity
from scail_blender.pose.render import PoseRenderer, render_clip
from scail_blender.pose.skeleton import BASE, LIMBS, N_LIMBS, PASTEL, SATURATED, palettes_for, smpl_to_scail

from .reference_marcher import march_scene

H, W = 128, 224
CAMERA = Intrinsics.default(512, 896).scaled(H / 512, W / 896)


@pytest.fixture(scope="module")
def crossing() -> np.ndarray:
    return check_joints(smpl_to_scail(synthetic.crossing(frames=81).joints), "T, P")


@pytest.fixture(scope="module")
def walking() -> np.ndarray:
    return check_joints(smpl_to_scail(synthetic.walking(frames=9).joints), "T, P")


def limb_midpoints(people: np.ndarray) -> dict[int, tuple[int, int]]:
    """Label -> pixel (row, col) at the projected middle of each limb."""
    out = {}
    for p, joints in enumerate(people):
        for limb, (a, b) in enumerate(LIMBS):
            x, y = CAMERA.project((joints[a] + joints[b]) / 2)
            out[p * N_LIMBS + limb] = (int(round(y)), int(round(x)))
    return out


@pytest.mark.parametrize("frame", [10, 40, 70])
def test_matches_official_tracer_with_occlusion(crossing: np.ndarray, frame: int) -> None:
    valid, _ = joint_validity(crossing)
    palettes = palettes_for(2)
    depth = depth_range(crossing)
    scene = build_scene(crossing[frame], valid[frame], palettes)
    ours, labels = PoseRenderer(H, W, CAMERA, depth, palettes).render_with_labels(crossing[frame])
    ref, ref_owner = march_scene(scene, H, W, CAMERA, depth)
    diff = np.abs(ours.astype(int) - ref.astype(int)).max(axis=-1)
    assert (diff <= 2).mean() >= 0.995
    # No systematic brightness offset on the pixels both draw (float32 truncation noise only).
    both = ours.any(axis=-1) & ref.any(axis=-1)
    assert abs((ours[both].astype(float) - ref[both]).mean()) < 0.3
    ref_labels = np.where(ref_owner >= 0, scene.cap_label[ref_owner], -1)
    shown = ref_labels >= 0
    assert shown.sum() > 500
    assert (labels[shown] == ref_labels[shown]).mean() >= 0.99
    # Every limb the official tracer shows at its midpoint, we show there too.
    visible = 0
    for label, (row, col) in limb_midpoints(crossing[frame]).items():
        if 0 <= row < H and 0 <= col < W and ref_labels[row, col] == label:
            visible += 1
            assert labels[row, col] == label
    assert visible >= 15


def test_front_person_occludes_back_person(crossing: np.ndarray) -> None:
    """Mid-clip the walker (person 1, nearer) covers the dancer's torso (person 0)."""
    valid, _ = joint_validity(crossing)
    renderer = PoseRenderer(H, W, CAMERA, depth_range(crossing), palettes_for(2))
    _, labels = renderer.render_with_labels(crossing[40])
    people = set(np.unique(labels[labels >= 0]) // N_LIMBS)
    assert people == {0, 1}
    neck_back = CAMERA.project(crossing[40, 0, 1])
    row, col = int(round(neck_back[1])), int(round(neck_back[0]))
    walker = crossing[40, 1]
    assert walker[:, 2].max() < crossing[40, 0][:, 2].min()  # really in front
    covered = labels[row - 3:row + 4, col - 3:col + 4] // N_LIMBS
    assert (covered == 1).any() or not valid[40, 0, 1]


def test_single_person_uses_base_palette_and_scail2_saturated(walking: np.ndarray) -> None:
    frames = list(render_clip(walking[:2], CAMERA, (H, W), renderer="numpy"))
    saturated = list(render_clip(walking[:2], CAMERA, (H, W), scheme="scail2", renderer="numpy"))
    depth = depth_range(walking[:2])
    base = PoseRenderer(H, W, CAMERA, depth, [BASE]).render(walking[0])
    sat = PoseRenderer(H, W, CAMERA, depth, [SATURATED]).render(walking[0])
    np.testing.assert_array_equal(frames[0], base)
    np.testing.assert_array_equal(saturated[0], sat)
    assert not np.array_equal(base, sat)
    # Each limb's typical pixel has the hue of its base colour.
    _, labels = PoseRenderer(H, W, CAMERA, depth, [BASE]).render_with_labels(walking[0])
    for limb in range(N_LIMBS):
        pixels = base[labels == limb].astype(float)
        assert len(pixels), f"limb {limb} not drawn"
        typical = np.median(pixels, axis=0)
        expected = BASE[limb].astype(float) / 300 + 0.15
        cos = typical @ expected / np.linalg.norm(typical) / np.linalg.norm(expected)
        assert cos > 0.99, (limb, typical, BASE[limb])


def test_two_people_get_pastel_then_saturated(crossing: np.ndarray) -> None:
    clip = crossing[40:41]
    frame = next(render_clip(clip, CAMERA, (H, W), renderer="numpy"))
    explicit = PoseRenderer(H, W, CAMERA, depth_range(clip), [PASTEL, SATURATED]).render(clip[0])
    np.testing.assert_array_equal(frame, explicit)


def test_missing_joints_and_people_are_skipped(walking: np.ndarray) -> None:
    people = np.stack([walking[0, 0], np.zeros_like(walking[0, 0])])
    people[0, 4] = 0  # right wrist missing: limb 3 (elbow-wrist) goes
    renderer = PoseRenderer(H, W, CAMERA, depth_range(people[None]), palettes_for(2))
    _, labels = renderer.render_with_labels(people)
    drawn = set(np.unique(labels[labels >= 0]))
    assert drawn == set(range(N_LIMBS)) - {3}
    blank = renderer.render(np.zeros((2, 14, 3), np.float32))
    assert not blank.any()


def test_nan_joints_warn_once_and_draw_as_missing(walking: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    clip = walking[:3].copy()
    clip[0, 0, 7] = np.nan  # left wrist
    clip[2, 0, 13] = (np.inf, 0, 1000)  # left ankle
    with caplog.at_level(logging.WARNING, logger="scail_blender"):
        frames = list(render_clip(clip, CAMERA, (H, W), renderer="numpy"))
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1 and messages[0].startswith("2 joint(s)")
    cleaned = clip.copy()
    cleaned[~np.isfinite(cleaned).all(axis=-1)] = 0
    expected = list(render_clip(cleaned, CAMERA, (H, W), renderer="numpy"))
    for got, want in zip(frames, expected):
        np.testing.assert_array_equal(got, want)


def test_joints_behind_the_camera_are_not_drawn(walking: np.ndarray) -> None:
    people = walking[0].copy()
    people[0, 10, 2] = -300.0  # right ankle behind the camera
    renderer = PoseRenderer(H, W, CAMERA, depth_range(people[None]), [BASE])
    _, labels = renderer.render_with_labels(people)
    assert set(np.unique(labels[labels >= 0])) == set(range(N_LIMBS)) - {8}
    behind = walking[0].copy()
    behind[..., 2] *= -1
    assert not renderer.render(behind).any()
    assert not next(render_clip(behind[None], CAMERA, (H, W), renderer="numpy")).any()


def test_depth_range_counts_only_drawn_capsules(walking: np.ndarray) -> None:
    far = walking[0].copy()
    far[0, 13] = (0.0, 0.0, 0.0)  # missing: ignored
    far[0, 0, 2] = 9000.0  # head far away: its limb is drawn, counts
    rng = depth_range(far[None])
    assert rng.far == pytest.approx(9000.0)
    zs = far[0][:, 2][[i for i in range(14) if i != 13]]
    assert rng.near == pytest.approx(float(zs.min()))
    lone = np.zeros((1, 1, 14, 3), np.float32)
    lone[0, 0, 0] = (0, 0, 5000)  # a joint with no partner draws nothing
    assert depth_range(lone).far < 1.0


def test_shape_errors_name_the_expected_shape() -> None:
    with pytest.raises(InputError, match=r"\[T, P, 14, 3\]"):
        next(render_clip(np.zeros((4, 24, 3)), CAMERA, (H, W)))
    renderer = PoseRenderer(H, W, CAMERA, depth_range(np.zeros((1, 1, 14, 3))))
    with pytest.raises(InputError, match=r"\[P, 14, 3\]"):
        renderer.render(np.zeros((14, 3)))
    with pytest.raises(InputError, match="renderer"):
        next(render_clip(np.zeros((1, 1, 14, 3)), CAMERA, (H, W), renderer="opengl"))


def test_render_clip_streams(walking: np.ndarray) -> None:
    frames = render_clip(walking, CAMERA, (H, W), renderer="numpy")
    first = next(frames)
    assert first.shape == (H, W, 3) and first.dtype == np.uint8 and first.any()
    assert sum(1 for _ in frames) == len(walking) - 1


def test_depth_fade_darkens_farther_people() -> None:
    """Same pose at two depths in one clip: the farther copy is darker (clip-wide shading)."""
    pose = smpl_to_scail(synthetic.walking(frames=1).joints)[0, 0]
    near = pose.copy()
    far = pose + np.array([0, 0, 6000], np.float32)
    clip = np.stack([near[None], far[None]])
    frames = list(render_clip(clip, CAMERA, (H, W), renderer="numpy"))
    bright = [f[f.any(axis=-1)].astype(float).mean() for f in frames]
    assert bright[1] < bright[0] * 0.8
