"""Synthetic motion and files in the layouts other tools write, for the motion tests.

``comfy_pose_glb`` follows the layout facts of docs/spec motion-formats.md for the
ComfyUI-SCAIL-Pose "Save NLF Poses as 3D" node (flip y/z, centre on the clip's bounding box,
scale to 1.8 units, joints found by position in frame 0, limb cylinders along +Y); it is
written from those facts, not from the node's code.
"""

from __future__ import annotations

import math

import numpy as np

from scail_blender.motion.comfy_glb import LIMBS
from scail_blender.motion.gltf import GlbBuilder
from scail_blender.motion.model import Motion
from scail_blender.motion.smpl import REST_JOINTS
from scail_blender.pose.camera import Intrinsics


def walking(frames: int = 12, people: int = 1, depth_mm: float = 3500.0) -> Motion:
    """People standing side by side in front of the camera, swinging arms and legs."""
    rest = REST_JOINTS * 1000.0 * np.array([1.0, -1.0, -1.0])
    joints = np.zeros((frames, people, 24, 3), np.float32)
    for p in range(people):
        for t in range(frames):
            pose = rest.copy()
            swing = 120.0 * math.sin(2 * math.pi * t / frames + p)
            pose[[18, 20, 22], 2] += swing
            pose[[19, 21, 23], 2] -= swing
            pose[[4, 7, 10], 2] -= swing * 0.6
            pose[[5, 8, 11], 2] += swing * 0.6
            joints[t, p] = pose + [(p - (people - 1) / 2) * 900.0 + 15.0 * t, 100.0, depth_mm + 10.0 * p]
    return Motion(joints=joints, fps=16.0, intrinsics=Intrinsics(700.0, 690.0, 330.5, 250.25),
                  image_size=(480, 640), person_ids=[f"dancer_{p}" for p in range(people)], source="test")


def comfy_pose_glb(joints: np.ndarray, fps: float = 24.0, radius: float = 21.5) -> bytes:
    """[T, P, 24, 3] camera-space mm (all-zero person = missing) as the node's GLB."""
    frames, people = joints.shape[:2]
    starts = np.zeros((frames, people * len(LIMBS), 3))
    ends = np.zeros_like(starts)
    for p in range(people):
        for k, (a, b) in enumerate(LIMBS):
            ok = np.any(joints[:, p] != 0, axis=(1, 2))
            starts[ok, p * len(LIMBS) + k] = joints[ok, p, a] * [1, -1, -1]
            ends[ok, p * len(LIMBS) + k] = joints[ok, p, b] * [1, -1, -1]
    valid = np.linalg.norm(ends - starts, axis=-1) > 1e-6
    points = np.concatenate([starts[valid], ends[valid]])
    lo, hi = points.min(0), points.max(0)
    centre, extent = (lo + hi) / 2, float((hi - lo).max())
    scale = 1.8 / extent if extent > 10 else 1.0
    starts, ends = (starts - centre) * scale, (ends - centre) * scale

    # Joint nodes: distinct frame-0 limb end points, in order of first appearance.
    joint_pos: list[np.ndarray] = []
    owner: list[tuple[int, int]] = []
    for k in range(starts.shape[1]):
        for end, pos in ((0, starts[0, k]), (1, ends[0, k])):
            if not any(np.linalg.norm(pos - q) < 1e-4 for q in joint_pos):
                joint_pos.append(pos)
                owner.append((k, end))
    joint_t = np.stack([np.where(end == 0, starts[:, k].T, ends[:, k].T).T for k, end in owner], 1)

    length = np.linalg.norm(ends - starts, axis=-1)
    direction = (ends - starts) / np.where(length > 1e-6, length, 1.0)[..., None]
    quats = np.zeros(length.shape + (4,))
    quats[..., 3] = 1.0
    y = np.array([0.0, 1.0, 0.0])
    for idx in zip(*np.nonzero(length > 1e-6)):
        d = direction[idx]
        axis = np.cross(y, d)
        s, c = np.linalg.norm(axis), float(y @ d)
        if s < 1e-9:
            axis, s = np.array([1.0, 0.0, 0.0]), 0.0
        angle = math.atan2(s, c)
        axis = axis / max(np.linalg.norm(axis), 1e-12)
        quats[idx] = [*(axis * math.sin(angle / 2)), math.cos(angle / 2)]
    r = radius * scale
    bone_scale = np.stack([np.full_like(length, r), length, np.full_like(length, r)], -1)
    bone_scale[length <= 1e-6] = 0.0
    bone_t = np.where((length > 1e-6)[..., None], starts, 0.0)

    builder = GlbBuilder(doc={"asset": {"version": "2.0", "generator": "ComfyUI-SCAIL-Pose"}})
    times = builder.add_accessor((np.arange(frames) / fps).astype(np.float32), "SCALAR", bounds=True)
    sphere = builder.add_accessor(np.eye(3, dtype=np.float32), "VEC3", bounds=True)
    builder.doc["meshes"] = [{"primitives": [{"attributes": {"POSITION": sphere}}]}]
    nodes, samplers, channels = [], [], []

    def key(node: int, path: str, values: np.ndarray) -> None:
        kind = "VEC4" if path == "rotation" else "VEC3"
        samplers.append({"input": times, "interpolation": "LINEAR",
                         "output": builder.add_accessor(values.astype(np.float32), kind)})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    for j in range(len(owner)):
        nodes.append({"name": f"joint_{j}", "mesh": 0})
        key(j, "translation", joint_t[:, j])
        key(j, "scale", np.full((frames, 3), r))
    for k in range(starts.shape[1]):
        nodes.append({"name": f"bone_{k}", "mesh": 0})
        key(len(nodes) - 1, "translation", bone_t[:, k])
        key(len(nodes) - 1, "rotation", quats[:, k])
        key(len(nodes) - 1, "scale", bone_scale[:, k])
    builder.doc.update(nodes=nodes, scenes=[{"nodes": list(range(len(nodes)))}], scene=0,
                       animations=[{"channels": channels, "samplers": samplers}])
    return builder.to_bytes()



def synthetic_smpl_model(verts: int = 60, seed: int = 1) -> dict[str, np.ndarray]:
    """A tiny body model with the structure of the official SMPL file (vertices near the joints)."""
    from scail_blender.motion.smpl import SMPL_PARENTS

    rng = np.random.default_rng(seed)
    v_template = np.repeat(REST_JOINTS, 3, axis=0)[:verts] + rng.normal(0, 0.01, (verts, 3))
    weights = np.zeros((verts, 24))
    weights[np.arange(verts), np.arange(verts) // 3 % 24] = 0.7
    weights[np.arange(verts), (np.arange(verts) // 3 + 1) % 24] = 0.3
    regressor = np.zeros((24, verts))
    regressor[np.arange(verts) // 3 % 24, np.arange(verts)] = 1 / 3
    return dict(v_template=v_template, shapedirs=rng.normal(0, 0.01, (verts, 3, 10)),
                posedirs=np.zeros((verts, 3, 207)), J_regressor=regressor, weights=weights,
                kintree_table=np.array([[2**32 - 1, *SMPL_PARENTS[1:]], list(range(24))]),
                f=np.array([[i, i + 1, i + 2] for i in range(verts - 2)]))
