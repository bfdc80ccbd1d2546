"""A pose size of another shape than the camera's render is reframed, never stretched
(issue 10 point 1). Agreement with Blender's own projection at the new size is checked in
tests/blender/scripts/portrait_scene.py."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.rig.camera import CameraParams, default_pose_size, framing_note, intrinsics_from_camera

RENDERS = {"portrait": (512, 896), "landscape": (896, 512), "square": (640, 640)}  # res_x, res_y


def params(res: tuple[int, int], **kw) -> CameraParams:
    base = dict(lens=40.0, sensor_width=36.0, sensor_height=24.0, sensor_fit="AUTO", shift_x=0.0, shift_y=0.0,
                res_x=res[0], res_y=res[1])
    base.update(kw)
    return CameraParams(**base)


@pytest.mark.parametrize("render", RENDERS)
@pytest.mark.parametrize("fit", ["AUTO", "HORIZONTAL", "VERTICAL"])
@pytest.mark.parametrize("framing", ["sensor", "crop"])
@pytest.mark.parametrize("aspect", [(1.0, 1.0), (1.0, 1.25), (1.5, 1.0)])
@pytest.mark.parametrize("size", [(512, 896), (896, 512), (640, 640)])
def test_x_and_y_keep_the_pixel_aspect(render: str, fit: str, framing: str, aspect: tuple[float, float],
                                       size: tuple[int, int]) -> None:
    cam = params(RENDERS[render], sensor_fit=fit, shift_x=0.07, shift_y=-0.04,
                 pixel_aspect_x=aspect[0], pixel_aspect_y=aspect[1])
    k = intrinsics_from_camera(cam, size, framing)
    # Blender's y correction: fx = fy * pixel_aspect_y / pixel_aspect_x, whatever the size.
    assert k.fx == pytest.approx(k.fy * aspect[1] / aspect[0], rel=1e-12)


def test_sensor_framing_is_the_camera_rendered_at_that_resolution() -> None:
    # A portrait camera (AUTO fit: the 36 mm sensor spans the long side, the height) rendered
    # landscape: the sensor now spans the width, so the horizontal field is the old vertical one.
    cam = params((512, 896))
    portrait = intrinsics_from_camera(cam)
    landscape = intrinsics_from_camera(cam, (512, 896), "sensor")
    assert portrait.fy == pytest.approx(40 * 896 / 36) and landscape.fx == pytest.approx(40 * 896 / 36)
    assert (landscape.cx, landscape.cy) == pytest.approx((447.5, 255.5))


def test_crop_framing_keeps_the_centre_ray_and_covers_the_size() -> None:
    cam = params((512, 896), shift_x=0.05)
    native = intrinsics_from_camera(cam)
    crop = intrinsics_from_camera(cam, (512, 896), "crop")
    assert crop.fx / native.fx == pytest.approx(896 / 512)
    # The render's centre pixel maps to the pose frame's centre.
    centre = np.array([(255.5 - native.cx) / native.fx, (447.5 - native.cy) / native.fy, 1.0])
    assert crop.project(centre) == pytest.approx((447.5, 255.5))


def test_same_aspect_sizes_scale_uniformly_either_way() -> None:
    cam = params((896, 512), shift_y=0.1)
    a, b = (intrinsics_from_camera(cam, (256, 448), f) for f in ("sensor", "crop"))
    assert (a.fx, a.fy, a.cx, a.cy) == pytest.approx((b.fx, b.fy, b.cx, b.cy))


@pytest.mark.parametrize(("res", "aspect", "size"), [
    ((896, 512), (1.0, 1.0), (512, 896)), ((512, 896), (1.0, 1.0), (896, 512)),
    ((640, 640), (1.0, 1.0), (512, 896)), ((600, 640), (1.0, 1.2), (896, 512)),
])
def test_default_size_follows_the_camera_orientation(res, aspect, size) -> None:
    assert default_pose_size(params(res, pixel_aspect_x=aspect[0], pixel_aspect_y=aspect[1])) == size


def test_framing_note_names_the_rule() -> None:
    cam = params((512, 896))
    assert "sensor fit AUTO" in framing_note(cam, (512, 896), "sensor")
    assert "crop" in framing_note(cam, (512, 896), "crop")
    assert "render size" in framing_note(cam, (896, 512), "sensor")
