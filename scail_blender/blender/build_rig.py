"""Motion -> Blender: one SMPL-named armature per person and the camera the motion was seen from.

Everything that can fail (retiming, camera conversion, pose maths) runs before the scene is
touched, and a motion with nobody in it is refused there; if building still fails, everything
made so far is removed and the scene camera, resolution and frame range are put back, so a
failed import leaves the file as it was. Bones carry the motion as keyed
location + rotation relative to their rest pose, so the joints land exactly where the source put
them (NLF bone lengths vary per frame) while the rig stays an ordinary, editable armature.

A motion with SMPL pose parameters (parameter files, fitted meshes) is rigged from them instead
(``smpl_rig.smpl_pose``): the rest pose is the body the rotations act on, every bone is keyed
with the real SMPL joint rotation, twist included, and only the pelvis with a location, so
turning a bone turns its children as SMPL does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from .compat import fcurve_ensure
from ..errors import InputError
from ..motion.io import LoadedMotion, read_motion
from ..motion.model import Motion
from ..motion.retime import retime, sample_grid
from ..motion.rotations import matrix_to_quat
from ..motion.smpl_rig import global_rotations, person_world, rest_from_motion, smpl_pose
from ..motion.smpl import SMPL_PARENTS
from ..pose.framing import MODEL_SIZE
from ..pose.skeleton import SMPL_JOINT_NAMES
from ..rig.camera import CameraParams, blender_camera_for

# Size a motion without a recorded image size is shown at (the model's landscape size).
FALLBACK_SIZE = MODEL_SIZE
# glTF-style axes (y up, facing +z) -> Blender world (z up, facing -y); composed with smpl_rig.FLIP this is
# rig.camera.OPENCV_TO_BLENDER_WORLD, where blender_camera_for puts the camera.
GLTF_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# The child a bone's tail points at, where a joint has several.
TAIL_CHILD = {0: 3, 9: 12}
LEAF_LENGTH = 0.08


@dataclass
class PreparedPerson:
    name: str
    heads: np.ndarray        # [24, 3] rest bone heads, Blender world units
    tails: np.ndarray        # [24, 3]
    positions: np.ndarray    # [T, 24, 3] posed joint positions, Blender world units
    rotations: np.ndarray    # [T, 24, 3, 3] rotation of each joint relative to its rest, Blender world
    present: np.ndarray      # [T]
    smpl: bool = False       # rigged from SMPL rotations: only the pelvis is keyed with a location


@dataclass
class PreparedImport:
    motion: Motion
    people: list[PreparedPerson]
    size: tuple[int, int]
    camera_params: CameraParams
    frame_start: int
    notes: list[str]


def prepare_import(motion: Motion, scene: bpy.types.Scene, retime_to_scene: bool) -> PreparedImport:
    """All the numbers of an import, computed without changing anything in Blender."""
    if not motion.present().any():
        raise InputError("the motion has no person in any frame (all joints are zero); there is nothing to import")
    try:
        with np.errstate(all="raise"):
            return _prepare(motion, scene, retime_to_scene)
    except (np.linalg.LinAlgError, FloatingPointError, ValueError, OverflowError) as exc:
        raise InputError(f"the motion's values make no usable rig ({exc}); check the joints' units "
                         "(millimetres, OpenCV camera space) and that people are not collapsed to a point") from None


def _prepare(motion: Motion, scene: bpy.types.Scene, retime_to_scene: bool) -> PreparedImport:
    source = motion
    if retime_to_scene:
        motion = retime(motion, scene.render.fps / scene.render.fps_base)
    size = motion.image_size or FALLBACK_SIZE
    params = blender_camera_for(motion.intrinsics_or_default(size), size)
    units = 1.0 / scene.unit_settings.scale_length
    present = motion.present()
    names = motion.person_ids or [f"person_{p + 1}" for p in range(motion.people)]
    people = []
    notes = []
    for p in range(motion.people):
        if not present[:, p].any():
            continue
        rig = smpl_pose(source, p, source.present())
        if rig is not None:
            if motion is not source:
                rig = rig.resampled(*sample_grid(source.frames, source.fps, motion.fps))
            gltf, turned = rig.world()
            rest = rig.rest
        else:
            if source.smpl is not None:
                notes.append(f"{names[p]}: the SMPL parameters do not match the joints; rigged from positions")
            gltf = person_world(motion, p, present)
            rest = rest_from_motion(gltf)
            turned = global_rotations(gltf, rest)
        rotations = GLTF_TO_BLENDER @ turned @ GLTF_TO_BLENDER.T
        heads = rest @ GLTF_TO_BLENDER.T * units
        anchor = gltf[np.flatnonzero(present[:, p])[0], 0] @ GLTF_TO_BLENDER.T * units
        heads = heads - heads[0] + anchor
        people.append(PreparedPerson(
            name=names[p], heads=heads, tails=_tails(heads),
            positions=gltf @ GLTF_TO_BLENDER.T * units, rotations=rotations, present=present[:, p],
            smpl=rig is not None,
        ))
    return PreparedImport(motion, people, (int(size[0]), int(size[1])), params, scene.frame_start, notes)


def import_motion_file(path: str, context: bpy.types.Context, retime_to_scene: bool = True,
                       set_scene_camera: bool = True) -> tuple[LoadedMotion, PreparedImport, list[bpy.types.Object]]:
    """Import Motion's one code path (File > Import and Extract Motion from Video): read any
    motion file, prepare it, build its armatures and camera (named after the file)."""
    loaded = read_motion(path)
    prepared = prepare_import(loaded.motion, context.scene, retime_to_scene)
    armatures, _ = build_import(prepared, context, set_scene_camera, name=Path(path).stem)
    return loaded, prepared, armatures


def build_import(prepared: PreparedImport, context: bpy.types.Context, set_scene_camera: bool = True,
                 name: str = "motion") -> tuple[list[bpy.types.Object], bpy.types.Object]:
    """Create the armatures and the camera "``name`` camera" of ``prepared`` in the active
    collection; on failure the scene is put back as it was (see the module docstring).

    ``name`` is what the user knows the motion by (its file); the motion's ``source`` is a
    sentence about its origin, not a name."""
    scene = context.scene
    render = scene.render
    saved = (scene.camera, render.resolution_x, render.resolution_y, render.resolution_percentage,
             render.pixel_aspect_x, render.pixel_aspect_y, scene.frame_end)
    made: list[bpy.types.Object] = []
    try:
        return _build(prepared, context, set_scene_camera, name, made)
    except BaseException:
        for obj in made:
            data = obj.data
            action = obj.animation_data.action if obj.animation_data else None
            bpy.data.objects.remove(obj)
            if action is not None and action.users == 0:
                bpy.data.actions.remove(action)
            if data is not None and data.users == 0:
                (bpy.data.armatures if isinstance(data, bpy.types.Armature) else bpy.data.cameras).remove(data)
        (scene.camera, render.resolution_x, render.resolution_y, render.resolution_percentage,
         render.pixel_aspect_x, render.pixel_aspect_y, scene.frame_end) = saved
        raise


def _build(prepared: PreparedImport, context: bpy.types.Context, set_scene_camera: bool, name: str,
           made: list[bpy.types.Object]) -> tuple[list[bpy.types.Object], bpy.types.Object]:
    scene = context.scene
    collection = context.collection or scene.collection
    armatures = []
    for person in prepared.people:
        armatures.append(_armature(person, collection, prepared.frame_start, made))
    camera = _camera(prepared, collection, f"{name} camera")
    made.append(camera)
    if set_scene_camera:
        params = prepared.camera_params
        scene.camera = camera
        scene.render.resolution_x, scene.render.resolution_y = params.res_x, params.res_y
        scene.render.resolution_percentage = 100
        scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = params.pixel_aspect_x, params.pixel_aspect_y
    scene.frame_end = max(scene.frame_end, prepared.frame_start + prepared.motion.frames - 1)
    return armatures, camera


def _tails(heads: np.ndarray) -> np.ndarray:
    tails = np.zeros_like(heads)
    for j in range(24):
        children = [c for c, p in enumerate(SMPL_PARENTS) if p == j]
        if children:
            tails[j] = heads[TAIL_CHILD.get(j, children[0])]
        else:
            direction = heads[j] - heads[SMPL_PARENTS[j]]
            if j == 15:
                direction = np.array([0.0, 0.0, 1.0])
            tails[j] = heads[j] + direction / max(np.linalg.norm(direction), 1e-9) * LEAF_LENGTH
    return tails


def _armature(person: PreparedPerson, collection: bpy.types.Collection, frame_start: int,
              made: list[bpy.types.Object]) -> bpy.types.Object:
    data = bpy.data.armatures.new(person.name)
    obj = bpy.data.objects.new(person.name, data)
    made.append(obj)
    collection.objects.link(obj)
    previous = bpy.context.view_layer.objects.active
    bpy.context.view_layer.objects.active = obj
    mode = obj.mode
    bpy.ops.object.mode_set(mode="EDIT")
    for j, name in enumerate(SMPL_JOINT_NAMES):
        bone = data.edit_bones.new(name)
        bone.head, bone.tail, bone.roll = person.heads[j].tolist(), person.tails[j].tolist(), 0.0
        bone.use_deform = True
    for j, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            data.edit_bones[SMPL_JOINT_NAMES[j]].parent = data.edit_bones[SMPL_JOINT_NAMES[parent]]
    bpy.ops.object.mode_set(mode=mode)
    bpy.context.view_layer.objects.active = previous
    _key_pose(obj, person, frame_start)
    return obj


def _key_pose(obj: bpy.types.Object, person: PreparedPerson, frame_start: int) -> None:
    """Keys every bone's matrix_basis so its head sits at ``positions`` with ``rotations``."""
    frames = len(person.positions)
    rest = np.array([np.array(obj.data.bones[name].matrix_local) for name in SMPL_JOINT_NAMES])
    posed = np.tile(np.eye(4), (frames, 24, 1, 1))
    posed[:, :, :3, :3] = person.rotations @ rest[None, :, :3, :3]
    posed[:, :, :3, 3] = person.positions
    basis = np.zeros_like(posed)
    for j, parent in enumerate(SMPL_PARENTS):
        if parent < 0:
            basis[:, j] = np.linalg.inv(rest[j]) @ posed[:, j]
        else:
            local_rest = np.linalg.inv(rest[parent]) @ rest[j]
            basis[:, j] = np.linalg.inv(local_rest) @ np.linalg.inv(posed[:, parent]) @ posed[:, j]
    xyzw = matrix_to_quat(basis[..., :3, :3])
    for t in range(1, frames):  # keep neighbouring keys on one hemisphere for smooth blending
        flip = np.sum(xyzw[t] * xyzw[t - 1], axis=-1) < 0
        xyzw[t][flip] *= -1
    quats = np.concatenate([xyzw[..., 3:], xyzw[..., :3]], axis=-1)
    times = frame_start + np.arange(frames, dtype=np.float64)

    obj.animation_data_create()
    action = bpy.data.actions.new(f"{obj.name}_motion")
    obj.animation_data.action = action
    for j, name in enumerate(SMPL_JOINT_NAMES):
        obj.pose.bones[name].rotation_mode = "QUATERNION"
        keys = [("rotation_quaternion", quats[:, j])]
        if j == 0 or not person.smpl:
            keys.append(("location", basis[:, j, :3, 3]))
        for path, values in keys:
            for axis in range(values.shape[1]):
                _fcurve(action, obj, f'pose.bones["{name}"].{path}', axis, times, values[:, axis], name)
    _fcurve(action, obj, "hide_render", 0, times, (~person.present).astype(float), None, constant=True)
    _fcurve(action, obj, "hide_viewport", 0, times, (~person.present).astype(float), None, constant=True)


def _fcurve(action: bpy.types.Action, obj: bpy.types.Object, path: str, index: int, times: np.ndarray,
            values: np.ndarray, group: str | None, constant: bool = False) -> None:
    curve = fcurve_ensure(action, obj, path, index, group or "")
    curve.keyframe_points.add(len(times))
    curve.keyframe_points.foreach_set("co", np.stack([times, values], 1).ravel().astype(np.float32))
    interpolation = "CONSTANT" if constant else "LINEAR"
    curve.keyframe_points.foreach_set("interpolation", [
        bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[interpolation].value] * len(times))
    curve.update()


def _camera(prepared: PreparedImport, collection: bpy.types.Collection, name: str) -> bpy.types.Object:
    params = prepared.camera_params
    data = bpy.data.cameras.new(name)
    data.type = "PERSP"
    data.lens, data.sensor_width, data.sensor_height = params.lens, params.sensor_width, params.sensor_height
    data.sensor_fit = params.sensor_fit
    data.shift_x, data.shift_y = params.shift_x, params.shift_y
    data.clip_start, data.clip_end = 0.01, 1000.0
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    obj.matrix_world = Matrix([list(row) for row in params.matrix_world])
    return obj

