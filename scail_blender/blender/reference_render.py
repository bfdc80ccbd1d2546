"""Render SCAIL-2 references from the scene: the characters' image and its identity mask.

The reference image is a render of the characters alone (every other object hidden from the
render, lights kept) with a transparent film, in the engine the user picks: Eevee or Workbench,
both of which render in the bpy module of 4.2 and 5.0; if the chosen one fails (no GPU context),
Cycles at ``FALLBACK_SAMPLES`` samples renders instead and the report says so. The mask comes
from the render's alpha; with several characters a second, flat Workbench pass without
anti-aliasing says which character each pixel shows (occlusion included). Each character gets
the colour it has in the first frame of the driving mask (``first_frame_identities``), so the
reference, its extra views and the driving mask agree.

Framing: the pose camera at the pose render's first frame and size (what the first driving frame
shows) unless another camera or frame is given. Everything the scene is changed for a render
(engine, resolution, camera, frame, visibility, colours) is put back afterwards.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from ..errors import CameraError, InputError
from ..media.png import write_png
from ..motion.pose_video import first_frame_identities, frame_motion
from ..outputs import atomic_file, check_outputs
from ..pose.identity import PALETTE_NAMES, background
from ..pose.reference_mask import composite_on_black, labels_from_alpha, mask_from_labels
from ..rig.camera import FRAMINGS, Framing, default_pose_size
from . import compat
from .armature import deformed_meshes
from .camera import camera_params
from .characters import IN_BLENDER, Advice, choose_characters
from .scene_motion import Character, ClipExtractor

ENGINES = ("EEVEE", "WORKBENCH")
FALLBACK_SAMPLES = 8
GEOMETRY = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES"}
# Label colours of the ID pass, the most distinct first: channel levels whose 8-bit sRGB values
# lie far apart (0, 188, 255), so each decodes to its nearest code without doubt.
_LEVELS = (0.0, 0.5, 1.0)
_CODES = sorted(((r, g, b) for r in _LEVELS for g in _LEVELS for b in _LEVELS if (r, g, b) != (0.0, 0.0, 0.0)),
                key=lambda c: (sum(v == 0.5 for v in c), sum(c)))


@dataclass
class ReferenceRender:
    """One checked reference render: plain values plus the scene objects it reads."""

    scene: bpy.types.Scene
    characters: list[Character]
    camera: bpy.types.Object
    frame: int
    size: tuple[int, int]
    engine: str
    mode: str
    image: Path
    mask: Path
    framing: Framing = "sensor"
    identities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    backdrop: tuple[int, int, int] = (255, 255, 255)
    notes: list[str] = field(default_factory=list)

    def legend(self) -> str:
        return ", ".join(f"{c.obj.name} {PALETTE_NAMES[int(i) % 6]}" for c, i in zip(self.characters, self.identities))


def plan_reference(scene: bpy.types.Scene, image: Path, mask: Path, *, characters: list[str] | None = None,
                   chosen: list[Character] | None = None,
                   camera: str | None = None, frame: int | None = None, size: tuple[int, int] | None = None,
                   framing: Framing = "sensor", engine: str = "EEVEE", mode: str = "animation",
                   pose_start: int | None = None, pose_camera: str | None = None,
                   backdrop: tuple[int, int, int] = (255, 255, 255), advice: Advice = IN_BLENDER) -> ReferenceRender:
    """Check every input before anything is rendered. ``frame`` None is the pose render's first
    frame ``pose_start`` (default: the scene's start); ``camera`` None the pose camera
    ``pose_camera`` (default: the scene camera); ``size`` None SCAIL's size in that camera's
    orientation. ``chosen`` gives the characters already mapped (a pose render's, with its bone
    maps) instead of choosing them by ``characters``' names. Colours follow the characters' places
    in the first pose frame seen through the pose camera. ``backdrop`` is what an animation-mode
    reference shows behind the characters."""
    if engine not in ENGINES:
        raise InputError(f"Reference engine {engine!r} is unknown: use one of {', '.join(ENGINES)}.")
    background(mode, "reference")  # refuses an unknown mode
    if framing not in FRAMINGS:
        raise InputError(f"Framing {framing!r} is unknown: use one of {', '.join(FRAMINGS)}.")
    cam_obj = _camera(scene, camera)
    pose_cam = _camera(scene, pose_camera)
    camera_params(scene, cam_obj)  # refuses an orthographic reference camera
    size = tuple(size) if size is not None else default_pose_size(camera_params(scene, pose_cam))
    if min(size) < 16 or max(size) > 4096:
        raise InputError(f"Reference size {size[0]}x{size[1]} is outside 16..4096 pixels a side.")
    check_outputs({"the reference image": image, "the reference mask": mask},
                  inputs={"the .blend file": bpy.data.filepath})
    used = chosen if chosen is not None else choose_characters(scene, characters, None, advice).used
    if len(used) > len(_CODES):
        raise InputError(f"{len(used)} characters are more than a reference render tells apart ({len(_CODES)}): "
                         "render the reference of fewer characters (the panel's list, --character)")
    for character in used:
        if not character_geometry(scene, character.obj):
            raise InputError(f"'{character.obj.name}' has no mesh to render as a reference: parent or skin a mesh "
                             "to it, or pick a reference image and make its mask from the image.")
    start = pose_start if pose_start is not None else scene.frame_start
    extractor = ClipExtractor(scene, used, pose_cam, [float(start)], size=size, framing=framing)
    identities = first_frame_identities(frame_motion(extractor.run(), size=size))
    return ReferenceRender(scene=scene, characters=used, camera=cam_obj, frame=start if frame is None else frame,
                           size=size, engine=engine, mode=mode, image=Path(image), mask=Path(mask), framing=framing,
                           identities=identities, backdrop=backdrop)


def _camera(scene: bpy.types.Scene, name: str | None) -> bpy.types.Object:
    if name:
        obj = scene.objects.get(name)
        if obj is None or obj.type != "CAMERA":
            names = ", ".join(o.name for o in scene.objects if o.type == "CAMERA") or "none"
            raise CameraError(f"No camera named {name!r} in scene {scene.name!r} (cameras: {names}).")
        return obj
    camera_params(scene, None)  # refuses a missing or orthographic scene camera
    return scene.camera


def character_geometry(scene: bpy.types.Scene, armature: bpy.types.Object) -> list[bpy.types.Object]:
    """The objects that draw ``armature``'s character in renders: the meshes it deforms and
    everything parented under it that has geometry, if they are in the scene and not disabled in
    renders (a proxy the user hid from renders stays hidden)."""
    found = {obj.name: obj for obj in deformed_meshes(armature) if obj.name in scene.objects}
    for child in armature.children_recursive:
        if child.type in GEOMETRY and child.name in scene.objects:
            found.setdefault(child.name, child)
    return [obj for obj in found.values() if not obj.hide_render]


def render_reference(plan: ReferenceRender) -> ReferenceRender:
    """Render the reference image and its mask to ``plan.image`` and ``plan.mask`` (both written
    only once both renders succeeded). Returns ``plan`` with the engine actually used in ``notes``."""
    rgba = _render_pass(plan, "BEAUTY")
    labels = labels_from_alpha(rgba[..., 3] / 255.0, _render_pass(plan, "IDS") if len(plan.characters) > 1 else None)
    mask = mask_from_labels(labels, plan.identities, plan.mode)
    if plan.mode == "replacement":
        picture = composite_on_black(rgba)
    else:
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        picture = np.round(rgba[..., :3] * alpha + np.asarray(plan.backdrop, np.float32) * (1 - alpha)).astype(np.uint8)
    with atomic_file(plan.image, "reference image") as image_tmp, atomic_file(plan.mask, "reference mask") as mask_tmp:
        write_png(image_tmp, picture)
        write_png(mask_tmp, mask)
    plan.notes.append(f"reference {plan.size[0]}x{plan.size[1]} at frame {plan.frame} through '{plan.camera.name}' "
                      f"({plan.engine.lower()}): {plan.legend()}")
    return plan


def _render_pass(plan: ReferenceRender, kind: str) -> np.ndarray:
    """One render of the characters alone: RGBA uint8 for ``BEAUTY``, labels (-1 = none) for ``IDS``."""
    with tempfile.TemporaryDirectory(prefix="scail-ref-") as tmp, _scene_for(plan, kind) as saved:
        path = Path(tmp) / "render.png"
        scene = plan.scene
        saved.set(scene.render, filepath=str(path))
        try:
            bpy.ops.render.render(write_still=True, scene=scene.name)
        except RuntimeError as exc:
            if kind != "BEAUTY" or not hasattr(scene, "cycles"):
                raise
            plan.notes.append(f"{plan.engine.lower()} could not render here ({str(exc).strip()}); used Cycles at "
                              f"{FALLBACK_SAMPLES} samples")
            saved.set(scene.render, engine="CYCLES")
            saved.set(scene.cycles, samples=FALLBACK_SAMPLES)
            bpy.ops.render.render(write_still=True, scene=scene.name)
        pixels = _read_png(path)
    pixels = _crop(pixels, plan.size)
    if kind == "BEAUTY":
        return pixels
    return _decode_labels(pixels, len(plan.characters))


def _read_png(path: Path) -> np.ndarray:
    image = bpy.data.images.load(str(path))
    try:
        width, height = image.size
        flat = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(flat)
    finally:
        bpy.data.images.remove(image)
    return np.round(flat.reshape(height, width, 4)[::-1] * 255).astype(np.uint8)


def _decode_labels(rgba: np.ndarray, people: int) -> np.ndarray:
    """Labels of the ID pass: each opaque pixel's nearest code colour (sRGB encoded)."""
    codes = np.array([_srgb(c) for c in _CODES[:people]], np.float32)
    dist = np.abs(rgba[..., None, :3].astype(np.float32) - codes).sum(axis=-1)
    return np.where(rgba[..., 3] > 127, dist.argmin(axis=-1), -1)


def _srgb(linear: tuple[float, float, float]) -> tuple[float, ...]:
    return tuple(255 * (12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055) for v in linear)


def _render_size(plan: ReferenceRender) -> tuple[int, int]:
    """(height, width) to render: the size itself (sensor framing), or the camera's own shape
    covering it, to be centre-cropped (crop framing)."""
    if plan.framing == "sensor":
        return plan.size
    render = plan.scene.render
    aspect = render.resolution_x * render.pixel_aspect_x / (render.resolution_y * render.pixel_aspect_y)
    height, width = plan.size
    if aspect > width / height:
        return height, math.ceil(height * aspect)
    return math.ceil(width / aspect), width


def _crop(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    top, left = (pixels.shape[0] - size[0]) // 2, (pixels.shape[1] - size[1]) // 2
    return pixels[top:top + size[0], left:left + size[1]]


@contextmanager
def _scene_for(plan: ReferenceRender, kind: str) -> Iterator[_Saved]:
    """Set the scene up for one pass and put every setting back afterwards."""
    scene = plan.scene
    render = scene.render
    shown = {obj.name for c in plan.characters for obj in character_geometry(scene, c.obj)}
    saved_attrs = _Saved()
    height, width = _render_size(plan)
    # The Sequencer's strips (the pose video's own strip among them) and the compositor would
    # replace or alter the 3D render; Freestyle lines would widen the silhouette.
    saved_attrs.set(render, engine=_engine(plan.engine) if kind == "BEAUTY" else "BLENDER_WORKBENCH",
                    resolution_x=width, resolution_y=height, resolution_percentage=100, film_transparent=True,
                    use_border=False, pixel_aspect_x=1.0, pixel_aspect_y=1.0, use_sequencer=False,
                    use_compositing=False, use_freestyle=False, use_multiview=False)
    saved_attrs.set(render.image_settings, file_format="PNG", color_mode="RGBA", color_depth="8")
    saved_attrs.set(scene, camera=plan.camera)
    if kind == "IDS":
        saved_attrs.set(scene.display, render_aa="OFF")
        saved_attrs.set(scene.display.shading, light="FLAT", color_type="OBJECT", show_shadows=False,
                        show_cavity=False, show_object_outline=False, show_xray=False)
        saved_attrs.set(scene.view_settings, view_transform="Standard", look="None", exposure=0.0, gamma=1.0)
        for index, character in enumerate(plan.characters):
            for obj in character_geometry(scene, character.obj):
                saved_attrs.set(obj, color=(*_CODES[index], 1.0))
    for obj in scene.objects:
        keep = obj.name in shown or (kind == "BEAUTY" and obj.type == "LIGHT")
        if not keep and not obj.hide_render:
            saved_attrs.set(obj, hide_render=True)
    current = (scene.frame_current, scene.frame_subframe)
    try:
        scene.frame_set(plan.frame)
        yield saved_attrs
    finally:
        saved_attrs.restore()
        scene.frame_set(current[0], subframe=current[1])


def _engine(choice: str) -> str:
    return compat.eevee_engine() if choice == "EEVEE" else "BLENDER_WORKBENCH"


class _Saved:
    """Attributes changed for a render, put back in reverse order."""

    def __init__(self) -> None:
        self._old: list[tuple[object, str, object]] = []

    def set(self, owner: object, **values: object) -> None:
        for name, value in values.items():
            old = getattr(owner, name)
            self._old.append((owner, name, tuple(old) if hasattr(old, "__len__") and not isinstance(old, str) else old))
            setattr(owner, name, value)

    def restore(self) -> None:
        for owner, name, value in reversed(self._old):
            setattr(owner, name, value)
        self._old.clear()
