"""Motion as a GLB with a real skin: one SMPL-24 skeleton per person, a body mesh, a camera.

Any glTF tool (Blender, Maya, Unreal, three.js) imports it as animated armatures. Layout:
- glTF axes are the OpenCV camera's with y and z flipped, in metres, and the camera node sits at
  the origin with no rotation, so "look through the camera" shows what the source camera saw;
- every joint is animated in rotation (bones aim at their children, so the mesh follows) and
  in translation (so joint positions are exact even where NLF's bone lengths vary per frame);
- a person who is absent in a frame has their pelvis scaled to zero there;
- ``scenes[0].extras.scail`` keeps what glTF cannot say (exact intrinsics with an off-centre
  principal point, image size, fps, person ids, source), so reading the file back is lossless
  for joints, camera and timing. Hands, head marks and SMPL parameters are not stored (use npz).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..outputs import atomic_file
from ..pose.camera import Intrinsics
from ..pose.skeleton import SMPL_JOINT_NAMES
from .gltf import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, GlbBuilder, Gltf
from .model import JOINT_COUNT, Motion
from .rotations import align, quat_to_matrix
from .smpl import SMPL_PARENTS, BodyModel
from .smpl_rig import CHILDREN, FLIP, local_animation, person_world, rest_from_motion

GENERATOR = "scail-blender"
EXTRAS_KEY = "scail"
FORMAT_VERSION = 1
# Capsule radius (m) of the segment from each joint to its children.
SEGMENT_RADIUS = {0: 0.09, 3: 0.09, 6: 0.1, 9: 0.09, 12: 0.05, 13: 0.05, 14: 0.05, 1: 0.07, 2: 0.07,
                  4: 0.05, 5: 0.05, 7: 0.04, 8: 0.04, 16: 0.045, 17: 0.045, 18: 0.04, 19: 0.04,
                  20: 0.035, 21: 0.035}
HEAD_RADIUS = 0.1


def write_motion_glb(motion: Motion, path: str | os.PathLike, body: BodyModel | None = None) -> None:
    """Write ``motion`` as a skinned GLB; ``body`` swaps the capsule bodies for the SMPL mesh."""
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise InputError(f"GLB files end in .glb, got {path.name}")
    data = motion_glb_bytes(motion, body)
    with atomic_file(path, "motion") as temp:
        temp.write_bytes(data)


def motion_glb_bytes(motion: Motion, body: BodyModel | None = None) -> bytes:
    builder = GlbBuilder(doc={"asset": {"version": "2.0", "generator": GENERATOR}})
    doc = builder.doc
    nodes: list[dict[str, Any]] = []
    doc["nodes"] = nodes
    scene_nodes: list[int] = []
    times = np.arange(motion.frames, dtype=np.float32) / np.float32(motion.fps)
    time_acc = builder.add_accessor(times, "SCALAR", bounds=True)
    channels: list[dict[str, Any]] = []
    samplers: list[dict[str, Any]] = []

    def animate(node: int, path: str, values: np.ndarray) -> None:
        kind = {"translation": "VEC3", "rotation": "VEC4", "scale": "VEC3"}[path]
        samplers.append({"input": time_acc, "interpolation": "LINEAR",
                         "output": builder.add_accessor(values.astype(np.float32), kind)})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    camera = _camera(motion)
    if camera is not None:
        doc["cameras"] = [camera]
        nodes.append({"name": "camera", "camera": 0})
        scene_nodes.append(0)

    present = motion.present()
    people_extras = []
    doc["meshes"], doc["skins"] = [], []
    doc["materials"] = [{"name": "body", "doubleSided": True, "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.8, 0.8, 1.0],
                                                                  "metallicFactor": 0.0, "roughnessFactor": 0.7}}]
    names = motion.person_ids or [f"person_{p + 1}" for p in range(motion.people)]
    for person in range(motion.people):
        if not present[:, person].any():
            continue
        world = person_world(motion, person, present)
        betas = None
        if body is not None and motion.smpl is not None:
            betas = motion.smpl.betas[present[:, person], person].mean(axis=0)
        rest, mesh = _rest_and_mesh(world, body, betas)
        local_t, local_q = local_animation(world, rest)

        base = len(nodes)
        joint_nodes = [base + j for j in range(JOINT_COUNT)]
        for j in range(JOINT_COUNT):
            parent = SMPL_PARENTS[j]
            offset = rest[j] - (rest[parent] if parent >= 0 else 0.0)
            node: dict[str, Any] = {"name": SMPL_JOINT_NAMES[j], "translation": [float(v) for v in offset]}
            children = [base + c for c in CHILDREN[j]]
            if children:
                node["children"] = children
            nodes.append(node)
            animate(base + j, "translation", local_t[:, j])
            animate(base + j, "rotation", local_q[:, j])
        animate(base, "scale", np.repeat(present[:, person, None].astype(np.float32), 3, axis=1))

        ibm = np.tile(np.eye(4), (JOINT_COUNT, 1, 1))
        ibm[:, :3, 3] = -rest
        doc["skins"].append({"name": names[person], "joints": joint_nodes, "skeleton": base,
                             "inverseBindMatrices": builder.add_accessor(ibm.astype(np.float32), "MAT4")})
        doc["meshes"].append({"name": f"{names[person]}_body", "primitives": [_primitive(builder, *mesh)]})
        mesh_node = len(nodes)
        nodes.append({"name": f"{names[person]}_body", "mesh": len(doc["meshes"]) - 1, "skin": len(doc["skins"]) - 1})
        root = len(nodes)
        nodes.append({"name": names[person], "children": [base]})
        scene_nodes += [root, mesh_node]
        people_extras.append({"id": names[person], "node": root, "joints": joint_nodes})

    if not people_extras:
        raise InputError("the motion has no person in any frame; there is nothing to write.")
    doc["animations"] = [{"name": "motion", "channels": channels, "samplers": samplers}]
    extras: dict[str, Any] = {"version": FORMAT_VERSION, "fps": motion.fps, "frames": motion.frames,
                              "people": people_extras, "source": motion.source}
    if motion.intrinsics is not None:
        extras["intrinsics"] = motion.intrinsics.matrix().tolist()
    if motion.image_size is not None:
        extras["image_size"] = list(motion.image_size)
    doc["scenes"] = [{"name": "scail motion", "nodes": scene_nodes, "extras": {EXTRAS_KEY: extras}}]
    doc["scene"] = 0
    return builder.to_bytes()


def _camera(motion: Motion) -> dict[str, Any] | None:
    if motion.image_size is None and motion.intrinsics is None:
        return None
    height, width = motion.image_size or (round(2 * motion.intrinsics.cy), round(2 * motion.intrinsics.cx))
    intr = motion.intrinsics_or_default((height, width))
    return {"name": "camera", "type": "perspective", "perspective": {
        "yfov": 2 * math.atan(height / (2 * intr.fy)), "aspectRatio": width / height, "znear": 0.01, "zfar": 1000.0}}


def _rest_and_mesh(world: np.ndarray, body: BodyModel | None, betas: np.ndarray | None):
    if body is not None:
        verts, rest = body.rest(betas)
        top = np.argsort(-body.weights, axis=1)[:, :4]
        weights = np.take_along_axis(body.weights, top, axis=1)
        weights /= weights.sum(axis=1, keepdims=True).clip(1e-12)
        return rest - rest[0], (verts - rest[0], _normals(verts, body.faces), top, weights, body.faces)
    rest = rest_from_motion(world)
    return rest, _capsules(rest)


def _capsules(rest: np.ndarray):
    """Capsules from every joint to each child, rigidly bound to that joint, plus a head."""
    parts = []
    for j, kids in enumerate(CHILDREN):
        for c in kids:
            parts.append((_capsule(rest[j], rest[c], SEGMENT_RADIUS.get(j, 0.04)), j))
    parts.append((_capsule(rest[15], rest[15] + [0, 0.12, 0], HEAD_RADIUS), 15))
    verts, normals, faces, joints = [], [], [], []
    for (v, n, f), j in parts:
        faces.append(f + sum(len(x) for x in verts))
        verts.append(v)
        normals.append(n)
        joints.append(np.full(len(v), j))
    v = np.concatenate(verts)
    top = np.zeros((len(v), 4), np.int64)
    top[:, 0] = np.concatenate(joints)
    weights = np.zeros((len(v), 4))
    weights[:, 0] = 1.0
    return v, np.concatenate(normals), top, weights, np.concatenate(faces).astype(np.uint32)


def _capsule(a: np.ndarray, b: np.ndarray, radius: float, segments: int = 10, rings: int = 8):
    axis = np.asarray(b, float) - np.asarray(a, float)
    length = float(np.linalg.norm(axis))
    lat = np.concatenate([np.linspace(-math.pi / 2, 0, rings // 2 + 1), np.linspace(0, math.pi / 2, rings // 2 + 1)])
    lon = np.linspace(0, 2 * math.pi, segments, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    normal = np.stack([np.cos(la) * np.cos(lo), np.sin(la), np.cos(la) * np.sin(lo)], -1).reshape(-1, 3)
    top = (np.arange(len(lat)) > rings // 2).repeat(segments)
    local = normal * radius + np.outer(top, [0.0, length, 0.0])
    rot = align(np.array([[0.0, 1.0, 0.0]]), axis[None, None] if length > 1e-9 else np.array([[[0.0, 1.0, 0.0]]]))[0]
    faces = []
    for i in range(len(lat) - 1):
        for k in range(segments):
            p, q = i * segments + k, i * segments + (k + 1) % segments
            faces += [[p, p + segments, q], [q, p + segments, q + segments]]
    return local @ rot.T + a, normal @ rot.T, np.array(faces, np.int64)


def _normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = verts[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(verts)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 1e-12, normals / length.clip(1e-12), [0.0, 1.0, 0.0])


def _primitive(builder: GlbBuilder, verts, normals, joints, weights, faces) -> dict[str, Any]:
    return {
        "attributes": {
            "POSITION": builder.add_accessor(verts.astype(np.float32), "VEC3", target=ARRAY_BUFFER, bounds=True),
            "NORMAL": builder.add_accessor(normals.astype(np.float32), "VEC3", target=ARRAY_BUFFER),
            "JOINTS_0": builder.add_accessor(joints.astype(np.uint16), "VEC4", target=ARRAY_BUFFER),
            "WEIGHTS_0": builder.add_accessor(weights.astype(np.float32), "VEC4", target=ARRAY_BUFFER),
        },
        "indices": builder.add_accessor(faces.reshape(-1).astype(np.uint32), "SCALAR", target=ELEMENT_ARRAY_BUFFER,
                                        bounds=True),
        "material": 0,
    }


def is_scail_glb(gltf: Gltf) -> bool:
    scenes = gltf.list("scenes")
    return bool(scenes) and EXTRAS_KEY in (scenes[0].get("extras") or {})


def read_scail_glb(gltf: Gltf) -> Motion:
    """Our own GLB back to Motion, by forward kinematics over its animation."""
    extras = gltf.list("scenes")[0]["extras"][EXTRAS_KEY]
    try:
        fps = float(extras["fps"])
        frames = int(extras["frames"])
        people = [(str(p["id"]), [int(n) for n in p["joints"]]) for p in extras["people"]]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{gltf.name}: the scail metadata is damaged; re-export the file.") from None
    if frames < 1 or not people or any(len(j) != JOINT_COUNT for _, j in people):
        raise InputError(f"{gltf.name}: the scail metadata names no usable skeleton; re-export the file.")
    tracks = _tracks(gltf, frames)
    nodes = gltf.list("nodes")
    joints = np.zeros((frames, len(people), JOINT_COUNT, 3))
    for person, (_, joint_nodes) in enumerate(people):
        world_m = [None] * JOINT_COUNT
        for j, node in enumerate(joint_nodes):
            local = _local_matrices(nodes, tracks, node, frames)
            parent = SMPL_PARENTS[j]
            world_m[j] = local if parent < 0 else world_m[parent] @ local
            joints[:, person, j] = world_m[j][:, :3, 3]
        scale = tracks.get((joint_nodes[0], "scale"))
        if scale is not None:
            joints[scale[:, 0] <= 1e-6, person] = 0.0
    if not np.all(np.isfinite(joints)):
        raise InputError(f"{gltf.name}: the animation contains NaN or infinite values; the file is damaged.")
    camera = joints * FLIP * 1000.0
    intrinsics = Intrinsics.from_matrix(np.array(extras["intrinsics"])) if "intrinsics" in extras else None
    size = tuple(int(v) for v in extras["image_size"]) if "image_size" in extras else None
    return Motion(joints=camera.astype(np.float32), fps=fps, intrinsics=intrinsics, image_size=size,
                  person_ids=[p for p, _ in people], source=str(extras.get("source") or gltf.name))


def _tracks(gltf: Gltf, frames: int) -> dict[tuple[int, str], np.ndarray]:
    tracks: dict[tuple[int, str], np.ndarray] = {}
    for anim in gltf.list("animations")[:1]:
        samplers = anim.get("samplers", [])
        for channel in anim.get("channels", []):
            try:
                sampler = samplers[channel["sampler"]]
                key = (int(channel["target"]["node"]), str(channel["target"]["path"]))
                values = gltf.accessor(sampler["output"]).astype(np.float64)
            except (KeyError, IndexError, TypeError, ValueError):
                raise InputError(f"{gltf.name}: an animation channel is malformed; the file is damaged.") from None
            if len(values) != frames:
                raise InputError(f"{gltf.name}: a channel has {len(values)} keys for {frames} frames; re-export the file.")
            tracks[key] = values
    return tracks


def _local_matrices(nodes: list[dict[str, Any]], tracks: dict, node: int, frames: int) -> np.ndarray:
    if not 0 <= node < len(nodes):
        raise InputError(f"node {node} does not exist; the file is damaged.")
    spec = nodes[node]

    def value(path: str, default: list[float]) -> np.ndarray:
        if (node, path) in tracks:
            return tracks[(node, path)]
        return np.broadcast_to(np.asarray(spec.get(path, default), np.float64), (frames, len(default)))

    m = np.tile(np.eye(4), (frames, 1, 1))
    m[:, :3, :3] = quat_to_matrix(value("rotation", [0, 0, 0, 1])) * value("scale", [1, 1, 1])[:, None, :]
    m[:, :3, 3] = value("translation", [0, 0, 0])
    return m
