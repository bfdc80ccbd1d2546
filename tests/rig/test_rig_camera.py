"""Camera maths without Blender: inverse, refusals, axes. (Agreement with Blender's own
projection is checked in test_rig_blender.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.errors import CameraError
from scail_blender.pose.camera import Intrinsics
from scail_blender.rig.camera import (OPENCV_TO_BLENDER_WORLD, CameraParams, blender_camera_for,
                                      intrinsics_from_camera, world_to_opencv)


def params(**kw) -> CameraParams:
    base = dict(lens=50.0, sensor_width=36.0, sensor_height=24.0, sensor_fit="AUTO", shift_x=0.0, shift_y=0.0,
                res_x=896, res_y=512)
    base.update(kw)
    return CameraParams(**base)


def test_centred_square_pixels() -> None:
    k = intrinsics_from_camera(params())
    assert k.fx == pytest.approx(50 * 896 / 36) and k.fy == pytest.approx(k.fx)
    assert (k.cx, k.cy) == pytest.approx((447.5, 255.5))


def test_auto_fit_uses_sensor_width_on_the_long_side() -> None:
    portrait = intrinsics_from_camera(params(res_x=512, res_y=896))
    assert portrait.fy == pytest.approx(50 * 896 / 36)
    vertical = intrinsics_from_camera(params(sensor_fit="VERTICAL"))
    assert vertical.fy == pytest.approx(50 * 512 / 24)


def test_resize_keeps_pixel_centres() -> None:
    k = intrinsics_from_camera(params(shift_x=0.1), size=(256, 448))
    full = intrinsics_from_camera(params(shift_x=0.1))
    assert k.fx == pytest.approx(full.fx / 2) and k.cx == pytest.approx((full.cx + 0.5) / 2 - 0.5)


@pytest.mark.parametrize("k, size", [
    (Intrinsics(860.6, 860.6, 448.0, 256.0), (512, 896)),
    (Intrinsics(700.0, 910.0, 300.0, 500.0), (896, 512)),
    (Intrinsics(900.0, 600.0, 200.5, 100.25), (480, 640)),
])
def test_blender_camera_for_inverts_intrinsics(k: Intrinsics, size: tuple[int, int]) -> None:
    cam = blender_camera_for(k, size)
    assert min(cam.pixel_aspect_x, cam.pixel_aspect_y) == 1.0
    back = intrinsics_from_camera(cam)
    np.testing.assert_allclose([back.fx, back.fy, back.cx, back.cy], [k.fx, k.fy, k.cx, k.cy], rtol=1e-9)
    # The default placement shows OpenCV camera space unchanged.
    np.testing.assert_allclose(world_to_opencv(cam) @ OPENCV_TO_BLENDER_WORLD, np.eye(4), atol=1e-12)


def test_world_to_opencv_axes_and_camera_scale() -> None:
    # Camera 5 units up the world Y axis... placed at (0, -5, 1) looking along +Y (rotation X 90 deg), scaled 3x.
    m = np.array([[3.0, 0, 0, 0], [0, 0, -3.0, -5.0], [0, 3.0, 0, 1.0], [0, 0, 0, 1]])
    w2c = world_to_opencv(params(matrix_world=tuple(map(tuple, m))))
    point = w2c @ [1.0, 5.0, 3.0, 1.0]  # right of, in front of and above the camera
    np.testing.assert_allclose(point[:3], [1.0, -2.0, 10.0])


@pytest.mark.parametrize("kind, words", [("ORTHO", "orthographic"), ("PANO", "panoramic")])
def test_non_perspective_cameras_are_refused(kind: str, words: str) -> None:
    with pytest.raises(CameraError, match=words):
        intrinsics_from_camera(params(type=kind))


def test_zero_resolution_is_refused() -> None:
    with pytest.raises(CameraError, match="Resolution"):
        intrinsics_from_camera(params(res_x=0))
