"""Read armatures: rest bones for mapping, posed points per frame (the bpy half of bonemap.py)."""

from __future__ import annotations

import bpy
import numpy as np

from ..errors import RigMappingError
from ..rig.automap import auto_map
from ..rig.bonemap import BoneMap, MappingReport, sources_points
from ..rig.bones import BoneInfo, JointSource

HEAD_JOINT = 15  # SMPL head


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


def map_armature(obj: bpy.types.Object, overrides: dict[str, JointSource | str] | None = None,
                 by_structure: bool = True) -> tuple[BoneMap, MappingReport]:
    """Map by names, hierarchy and structure; the face marks come from the head's mesh when
    the rig has no face bones and a mesh is weighted to its head bone."""
    bones = bone_infos(obj)
    bonemap, report = auto_map(bones, overrides, by_structure=by_structure)
    head = bonemap.body.get(HEAD_JOINT)
    if head is not None and (report.face_from_rule or any(m is None for m in bonemap.head_marks)):
        points = head_mesh_points(obj, head.bone)
        if points is not None:
            bonemap, report = auto_map(bones, overrides, head_mesh=points, by_structure=by_structure)
    return bonemap, report


def deformed_meshes(armature: bpy.types.Object) -> list[bpy.types.Object]:
    """Meshes that ``armature`` deforms (an Armature modifier on them, or armature parenting)."""
    return [obj for obj in bpy.data.objects if obj.type == "MESH" and (
        any(m.type == "ARMATURE" and m.object == armature for m in obj.modifiers)
        or (obj.parent == armature and obj.parent_type == "ARMATURE"))]


def head_mesh_points(armature: bpy.types.Object, head_bone: str, min_weight: float = 0.5) -> np.ndarray | None:
    """Rest positions (armature space) of the mesh vertices weighted to ``head_bone``, or None."""
    to_armature = np.linalg.inv(np.asarray(armature.matrix_world))
    chunks = []
    for mesh in deformed_meshes(armature):
        group = mesh.vertex_groups.get(head_bone)
        if group is None:
            continue
        index = group.index
        verts = mesh.data.vertices
        co = np.empty(len(verts) * 3, np.float64)
        verts.foreach_get("co", co)
        keep = [v.index for v in verts if any(g.group == index and g.weight >= min_weight for g in v.groups)]
        if not keep:
            continue
        local = co.reshape(-1, 3)[keep]
        matrix = to_armature @ np.asarray(mesh.matrix_world)
        chunks.append(local @ matrix[:3, :3].T + matrix[:3, 3])
    return np.concatenate(chunks) if chunks else None


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
