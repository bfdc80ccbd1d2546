"""Blender camera settings <-> pinhole intrinsics and OpenCV camera space, without bpy.

Follows Blender's own view-plane rules (BKE_camera_params_compute_viewplane): the sensor size
that applies is the width unless the fit is VERTICAL; AUTO fits the longer side of the image
measured with pixel aspect; shift is in units of that fitted side. Blender puts pixel edges on
integers, the pose core pixel centres, hence the half-pixel terms.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import CameraError, InputError
from ..pose.camera import Intrinsics
from ..pose.framing import MODEL_SIZE, cover_crop

# How a camera is framed into a pose size of another aspect than its render resolution:
# "sensor" renders it the way Blender would at that resolution (its sensor fit decides which
# side keeps the field of view), "crop" scales the camera's own picture to cover the size and
# crops the centre (what SCAIL's preprocessing does to a video). Neither stretches.
Framing = Literal["sensor", "crop"]
FRAMINGS: tuple[str, ...] = ("sensor", "crop")

# Blender camera axes (x right, y up, looking down -z) to OpenCV axes (x right, y down, z forward).
BLENDER_TO_OPENCV_AXES = np.diag([1.0, -1.0, -1.0, 1.0])

# Where motion given in OpenCV camera space goes in a Blender scene: camera at the origin looking
# along +Y with +Z up, so an imported character stands upright on Blender's ground plane.
OPENCV_TO_BLENDER_WORLD = np.array([
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, -1.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
])


@dataclass(frozen=True)
class CameraParams:
    """What Blender knows about a scene camera; res_x/res_y already include the resolution percentage."""

    lens: float  # mm
    sensor_width: float  # mm
    sensor_height: float  # mm
    sensor_fit: str  # "AUTO", "HORIZONTAL" or "VERTICAL"
    shift_x: float
    shift_y: float
    res_x: int
    res_y: int
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0
    type: str = "PERSP"
    matrix_world: tuple[tuple[float, ...], ...] = field(
        default=((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 1.0)))

    def check(self) -> None:
        """Refuse what a pinhole cannot represent, with what to do instead."""
        if self.type != "PERSP":
            kind = {"ORTHO": "orthographic", "PANO": "panoramic"}.get(self.type, self.type)
            raise CameraError(f"the scene camera is {kind}; SCAIL needs a perspective camera "
                              "(Camera properties > Lens > Type: Perspective)")
        if self.lens <= 0 or self.res_x <= 0 or self.res_y <= 0:
            raise CameraError("the scene camera has no focal length or the render resolution is zero; "
                              "set Lens > Focal Length and Output > Resolution")
        if self.sensor_fit not in ("AUTO", "HORIZONTAL", "VERTICAL"):
            raise CameraError(f"unknown sensor fit {self.sensor_fit!r}; use Auto, Horizontal or Vertical")


def _fit(params: CameraParams) -> tuple[float, float, float]:
    """(sensor size, fitted side in pixels, y correction) as Blender computes its view plane."""
    ycor = params.pixel_aspect_y / params.pixel_aspect_x
    fit = params.sensor_fit
    if fit == "AUTO":
        wide = params.pixel_aspect_x * params.res_x >= params.pixel_aspect_y * params.res_y
        fit = "HORIZONTAL" if wide else "VERTICAL"
        sensor = params.sensor_width
    else:
        sensor = params.sensor_height if fit == "VERTICAL" else params.sensor_width
    viewfac = params.res_x if fit == "HORIZONTAL" else ycor * params.res_y
    return sensor, viewfac, ycor


def intrinsics_from_camera(params: CameraParams, size: tuple[int, int] | None = None,
                           framing: Framing = "sensor") -> Intrinsics:
    """Pinhole intrinsics of the render, or of the pose size ``size`` (H, W) framed by ``framing``.

    x and y are never scaled differently: fx / fy stays the camera's pixel aspect whatever the
    size, so a portrait camera rendered at a landscape size is reframed, not squashed.
    """
    params.check()
    native = _render_intrinsics(params)
    if size is None or tuple(size) == (params.res_y, params.res_x):
        return native
    if framing == "sensor":
        return _render_intrinsics(dataclasses.replace(params, res_x=int(size[1]), res_y=int(size[0])))
    if framing == "crop":
        return cover_crop(native, (params.res_y, params.res_x), (int(size[0]), int(size[1])))
    raise InputError(f"unknown framing {framing!r}: use one of {', '.join(FRAMINGS)}")


def _render_intrinsics(params: CameraParams) -> Intrinsics:
    """Blender's projection at the camera's own resolution. Blender's pixel edges sit on
    integers and ours on half-integers, hence the 0.5 terms."""
    sensor, viewfac, ycor = _fit(params)
    fx = params.lens * viewfac / sensor
    fy = fx / ycor
    cx = 0.5 * params.res_x - params.shift_x * viewfac - 0.5
    cy = 0.5 * params.res_y + params.shift_y * viewfac / ycor - 0.5
    return Intrinsics(float(fx), float(fy), float(cx), float(cy))


def is_portrait(params: CameraParams) -> bool:
    """True when the render is taller than wide as displayed (pixel aspect included)."""
    return params.pixel_aspect_y * params.res_y > params.pixel_aspect_x * params.res_x


def default_pose_size(params: CameraParams) -> tuple[int, int]:
    """SCAIL's official size in the camera's orientation: 512x896 (H x W) for landscape and
    square renders (square references stay landscape, as in the official scripts), 896x512 for
    portrait ones."""
    height, width = MODEL_SIZE
    return (width, height) if is_portrait(params) else (height, width)


def framing_note(params: CameraParams, size: tuple[int, int], framing: Framing) -> str:
    """One line saying how the camera was fitted to the pose size, for reports and --joints-out."""
    render = f"{params.res_y}x{params.res_x}"
    if tuple(size) == (params.res_y, params.res_x):
        return f"camera at its render size {render} (H x W)"
    if abs(size[0] * params.res_x - size[1] * params.res_y) == 0:
        return f"camera render {render} scaled to {size[0]}x{size[1]} (H x W, same aspect)"
    how = (f"as Blender renders it at that resolution (sensor fit {params.sensor_fit})" if framing == "sensor"
           else "by scaling its picture to cover and cropping the centre (SCAIL's video preprocessing)")
    return f"camera render {render} framed into {size[0]}x{size[1]} (H x W) {how}"


def world_to_opencv(params: CameraParams) -> np.ndarray:
    """4x4 from Blender world coordinates to OpenCV camera space (same units). The camera's own
    scale is ignored, as Blender ignores it when projecting."""
    matrix = np.asarray(params.matrix_world, dtype=np.float64)
    rotation = matrix[:3, :3]
    norms = np.linalg.norm(rotation, axis=0)
    if np.any(norms == 0):
        raise CameraError("the scene camera has zero scale; reset its scale to 1")
    camera_to_world = np.eye(4)
    camera_to_world[:3, :3] = rotation / norms
    camera_to_world[:3, 3] = matrix[:3, 3]
    return BLENDER_TO_OPENCV_AXES @ np.linalg.inv(camera_to_world)


def blender_camera_for(intrinsics: Intrinsics, size: tuple[int, int], sensor_width: float = 36.0,
                       world_from_opencv: np.ndarray = OPENCV_TO_BLENDER_WORLD) -> CameraParams:
    """Camera settings that reproduce ``intrinsics`` for an (H, W) image: the inverse of
    intrinsics_from_camera, used to show captured motion through the camera it was seen from.
    ``world_from_opencv`` is where the motion's camera-space points are placed in the scene.

    Unequal fx and fy become a pixel aspect (Blender keeps both aspects >= 1); the fit is
    HORIZONTAL so the lens follows from fx alone."""
    height, width = size
    if intrinsics.fx <= 0 or intrinsics.fy <= 0 or height <= 0 or width <= 0:
        raise CameraError("intrinsics need positive focal lengths and image size")
    ratio = intrinsics.fx / intrinsics.fy  # Blender's y correction
    aspect_x, aspect_y = (1.0, ratio) if ratio >= 1 else (1.0 / ratio, 1.0)
    viewfac = float(width)
    return CameraParams(
        lens=intrinsics.fx * sensor_width / viewfac,
        sensor_width=sensor_width,
        sensor_height=sensor_width * height / width,
        sensor_fit="HORIZONTAL",
        shift_x=(0.5 * width - 0.5 - intrinsics.cx) / viewfac,
        shift_y=(intrinsics.cy + 0.5 - 0.5 * height) * ratio / viewfac,
        res_x=int(width),
        res_y=int(height),
        pixel_aspect_x=aspect_x,
        pixel_aspect_y=aspect_y,
        matrix_world=tuple(tuple(float(v) for v in row)
                           for row in np.asarray(world_from_opencv) @ BLENDER_TO_OPENCV_AXES),
    )
