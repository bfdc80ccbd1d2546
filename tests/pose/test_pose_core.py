"""Skeleton tables, palettes and the pixel convention of the intrinsics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.skeleton import (
    BASE,
    DRAW_ORDER,
    LIMBS,
    PASTEL,
    SATURATED,
    SLOT_FROM_SMPL,
    SMPL_JOINT_NAMES,
    SLOT_NAMES,
    palettes_for,
    smpl_to_scail,
)


def test_slots_name_the_same_joints_as_smpl() -> None:
    assert [SMPL_JOINT_NAMES[i] for i in SLOT_FROM_SMPL][2:] == list(SLOT_NAMES[2:])
    assert sorted(DRAW_ORDER) == list(range(len(LIMBS)))
    joints = np.arange(2 * 24 * 3, dtype=np.float32).reshape(2, 24, 3)
    picked = smpl_to_scail(joints)
    assert picked.shape == (2, 14, 3)
    np.testing.assert_array_equal(picked[:, 0], joints[:, 15])
    np.testing.assert_array_equal(picked[:, 13], joints[:, 7])
    with pytest.raises(InputError, match=r"\[\.\.\., 24, 3\]"):
        smpl_to_scail(np.zeros((14, 3)))


def test_palettes_follow_the_official_scripts() -> None:
    assert palettes_for(1)[0] is BASE
    assert palettes_for(1, "scail2")[0] is SATURATED
    two = palettes_for(2, "scail2")
    assert two[0] is PASTEL and two[1] is SATURATED
    five = palettes_for(5)
    distinct = {p.tobytes() for p in five[:4]}
    assert len(distinct) == 4 and five[4] is five[0]
    assert all(p.shape == (13, 3) and p.dtype == np.uint8 for p in five)
    assert palettes_for(0) == []
    with pytest.raises(InputError, match="scheme"):
        palettes_for(1, "scail3")


def test_default_camera_is_nlf_55_degrees() -> None:
    cam = Intrinsics.default(512, 896)
    assert cam.fx == pytest.approx(860.59, abs=0.01) and cam.fy == cam.fx
    assert (cam.cx, cam.cy) == (448.0, 256.0)
    assert Intrinsics.default(896, 512).fx == pytest.approx(cam.fx)


def test_integer_pixels_are_pixel_centres() -> None:
    cam = Intrinsics(700.0, 650.0, 300.5, 200.25)
    for x, y in [(0, 0), (12, 340), (599, 399)]:
        ray = np.array([(x - cam.cx) / cam.fx, (y - cam.cy) / cam.fy, 1.0]) * 2345.0
        np.testing.assert_allclose(cam.project(ray), (x, y), atol=1e-9)
    assert np.isnan(cam.project(np.array([1.0, 2.0, 0.0]))).all()
    assert Intrinsics.from_matrix(cam.matrix()) == cam
    half = cam.scaled(0.5, 0.25)
    assert (half.fx, half.fy, half.cx, half.cy) == (175.0, 325.0, 301 / 4 - 0.5, 200.75 / 2 - 0.5)
    # The centre of the first pixel covers [-0.5, 0.5]; tripled, that is [-0.5, 2.5], centre 1.
    first = Intrinsics(1.0, 1.0, 0.0, 0.0).scaled(2.0, 3.0)
    assert (first.cx, first.cy) == (1.0, 0.5)


def test_bad_intrinsics_are_refused() -> None:
    with pytest.raises(InputError, match="focal"):
        Intrinsics(0.0, 1.0, 0.0, 0.0)
    with pytest.raises(InputError, match="skew"):
        Intrinsics.from_matrix(np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]))
    with pytest.raises(InputError, match=r"\[3, 3\]"):
        Intrinsics.from_matrix(np.eye(4))
    assert math.isfinite(Intrinsics.default(1, 1).fx)
