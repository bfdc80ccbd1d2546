"""Read armatures: rest bones for mapping, posed points per frame (the bpy half of bonemap.py)."""

from __future__ import annotations

import bpy
import numpy as np

from ..errors import RigMappingError
from ..rig.bonemap import BoneInfo, BoneMap, JointSource, MappingReport, auto_map, sources_points


def check_armature(obj: bpy.types.Object | None) -> bpy.types.Object:
    if obj is None or obj.type != "ARMATURE":
        name = "nothing" if obj is None else f"'{obj.name}' ({obj.type.lower()})"
        raise RigMappingError(f"the character must be an armature, got {name}; select the character's rig")
    return obj


def bone_infos(obj: bpy.types.Object) -> list[BoneInfo]:
    """The rig's bones at rest, in armature space, parents before children."""
    check_armature(obj)
    return [
        BoneInfo(bone.name, bone.parent.name if bone.parent else None, tuple(bone.head_local),
                 tuple(bone.tail_local), bool(bone.use_deform), tuple(tuple(row) for row in bone.matrix_local))
        for bone in obj.data.bones
    ]


def map_armature(obj: bpy.types.Object, overrides: dict[str, JointSource | str] | None = None
                 ) -> tuple[BoneMap, MappingReport]:
    return auto_map(bone_infos(obj), overrides)


def check_bonemap(obj: bpy.types.Object, bonemap: BoneMap) -> None:
    """A stored map can outlive a bone rename: say which bones are gone instead of failing later."""
    missing = sorted(bonemap.bones() - set(obj.data.bones.keys()))
    if missing:
        raise RigMappingError(f"'{obj.name}' has no bone(s) {', '.join(missing)} any more; "
                              "run Auto-map again or fix the overrides")


def rest_points_world(obj: bpy.types.Object, bonemap: BoneMap) -> np.ndarray:
    """The mapped points at rest in world units (object transform applied): [71, 3], NaN unmapped."""
    world = np.asarray(obj.matrix_world)
    bones = obj.data.bones
    names = bonemap.bones()
    matrices = {n: world @ np.asarray(bones[n].matrix_local) for n in names}
    return sources_points(bonemap.sources(), matrices, {n: bones[n].length for n in names})


def sample_pose(obj: bpy.types.Object, bonemap: BoneMap) -> np.ndarray:
    """The mapped points of the current (evaluated) frame in world units: [71, 3], NaN unmapped.

    Call after ``scene.frame_set``; pose-bone matrices then include constraints, drivers and IK.
    """
    world = np.asarray(obj.matrix_world)
    pose = obj.pose.bones
    bones = obj.data.bones
    names = bonemap.bones()
    matrices = {n: world @ np.asarray(pose[n].matrix) for n in names}
    return sources_points(bonemap.sources(), matrices, {n: bones[n].length for n in names})
