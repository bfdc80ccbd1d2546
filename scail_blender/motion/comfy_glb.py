"""Read the GLB that ComfyUI-SCAIL-Pose's "Save NLF Poses as 3D" node writes, back into Motion.

That file is a preview, not a rig: per person 14 joint spheres and 13 limb cylinders, positions
flipped to glTF axes, shifted by the clip's bounding-box centre c and scaled by s. The limb
cylinders carry both ends of every limb in every frame (start = translation, end = start +
rotation * (0, length, 0)), so the 14 drawn joints come back exactly up to c and s:
- s is the sphere scale divided by the node's cylinder radius (21.5 mm unless changed);
- c is not stored. It shows through only where a limb was missing (the node then places its
  joint at (0 - c) * s); otherwise the clip is put on the optical axis where it fits a 55-degree
  view, which keeps its shape and motion but not its true place.
The other ten SMPL joints were never drawn; they are estimated from their neighbours.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .gltf import Gltf
from .model import JOINT_COUNT, Motion

GENERATOR = "ComfyUI-SCAIL-Pose"
DEFAULT_RADIUS_MM = 21.5
NODE_FPS = 24.0
# The node's limbs per person, in its draw order, as (start, end) SMPL joint indices.
LIMBS = ((12, 17), (17, 19), (19, 21), (12, 16), (16, 18), (18, 20),
         (12, 2), (2, 5), (5, 8), (12, 1), (1, 4), (4, 7), (12, 15))
DRAWN = (12, 17, 19, 21, 16, 18, 20, 2, 5, 8, 1, 4, 7, 15)
# The node scales the clip so its largest bounding-box side is this long (glTF units).
NODE_EXTENT = 1.8
FIT_HALF_ANGLE = math.radians(55.0) / 2


def is_comfy_glb(gltf: Gltf) -> bool:
    generator = str(gltf.doc.get("asset", {}).get("generator", ""))
    names = {str(n.get("name", "")) for n in gltf.list("nodes")}
    return generator.startswith(GENERATOR) or ("joint_0" in names and "bone_0" in names and not gltf.list("skins"))


def read_comfy_glb(gltf: Gltf, radius_mm: float = DEFAULT_RADIUS_MM) -> tuple[Motion, list[str]]:
    """Motion in OpenCV camera space (mm) and notes on what could not be recovered."""
    nodes = {str(n.get("name", "")): i for i, n in enumerate(gltf.list("nodes"))}
    bone_nodes = _numbered(nodes, "bone_")
    joint_nodes = _numbered(nodes, "joint_")
    if not bone_nodes or len(bone_nodes) % len(LIMBS) or not joint_nodes:
        raise InputError(
            f"{gltf.name} is not a ComfyUI-SCAIL-Pose pose GLB: it has {len(bone_nodes)} 'bone_' and "
            f"{len(joint_nodes)} 'joint_' nodes (expected 13 limbs per person)."
        )
    tracks, times = _node_tracks(gltf)
    frames = len(times)
    people = len(bone_nodes) // len(LIMBS)

    start = np.stack([_track(tracks, gltf, n, "translation", frames) for n in bone_nodes], 1)
    rotation = np.stack([_track(tracks, gltf, n, "rotation", frames) for n in bone_nodes], 1)
    scale = np.stack([_track(tracks, gltf, n, "scale", frames) for n in bone_nodes], 1)
    if not (np.all(np.isfinite(start)) and np.all(np.isfinite(rotation)) and np.all(np.isfinite(scale))):
        raise InputError(f"{gltf.name}: the animation contains NaN or infinite values; the file is damaged.")
    end = start + _rotate_y(rotation) * scale[..., 1:2]
    valid = scale[..., 1] > 1e-9

    sphere = _track(tracks, gltf, joint_nodes[0], "scale", frames)[:, 0]
    s = float(np.median(sphere)) / radius_mm
    if not s > 0:
        raise InputError(f"{gltf.name}: joint spheres have no size, so the node's scale cannot be recovered.")

    # Scaled glTF positions [T, P, 24, 3] of the drawn joints, per person and frame.
    scaled = np.zeros((frames, people, JOINT_COUNT, 3), np.float64)
    present = np.zeros((frames, people), bool)
    for person in range(people):
        limbs = slice(person * len(LIMBS), (person + 1) * len(LIMBS))
        present[:, person] = valid[:, limbs].all(axis=1)
        for k, (a, b) in enumerate(LIMBS):
            scaled[:, person, a] = start[:, limbs][:, k]
            scaled[:, person, b] = end[:, limbs][:, k]

    notes = [
        f"scale: taken from the joint spheres assuming the node's cylinder radius of {radius_mm:g} mm",
        "no camera or image size in this file: renders use the default 55-degree NLF camera",
        "pelvis, spine, collars, feet and hand ends are not in this file: estimated from the drawn joints",
    ]
    if not present.any():
        raise InputError(f"{gltf.name}: every limb has zero length in every frame; there is no pose to recover.")
    lost = [p + 1 for p in range(people) if not present[:, p].any()]
    if lost:
        notes.append(f"person {', '.join(map(str, lost))}: absent from the first frame, so the node dropped them")
    points = scaled[present][:, DRAWN].reshape(-1, 3)
    extent = float(np.max(points.max(0) - points.min(0)))
    if abs(extent - NODE_EXTENT) > 0.01 and abs(s - 1.0) > 1e-6:
        notes.append(f"the clip spans {extent:.3f} units, not the node's {NODE_EXTENT}: the file may have been edited")

    centre = _missing_limb_centre(tracks, gltf, joint_nodes[0], valid[:, 0], frames)
    if centre is not None:
        notes.append("position: recovered exactly from frames where a limb was missing")
        flipped = (scaled + centre) / s
    else:
        notes.append("position: the node does not store where the clip was; it is placed on the camera axis to fit a 55-degree view")
        flipped = scaled / s
        half = np.abs(flipped[present][:, DRAWN]).reshape(-1, 3).max(axis=0)
        depth = half[2] + max(half[0], half[1]) / math.tan(FIT_HALF_ANGLE) * 1.1
        flipped = flipped + np.array([0.0, 0.0, -depth])
    camera = flipped * np.array([1.0, -1.0, -1.0])
    joints = _estimate_undrawn(camera)
    joints[~present] = 0.0

    fps = NODE_FPS
    if frames > 1 and times[-1] > times[0]:
        fps = float(round((frames - 1) / float(times[-1] - times[0]), 3))
    else:
        notes.append(f"a single frame: frame rate unknown, assumed the node's default {NODE_FPS:g}")
    motion = Motion(
        joints=joints.astype(np.float32),
        fps=fps,
        person_ids=[f"person_{p + 1}" for p in range(people)],
        source=f"ComfyUI-SCAIL-Pose GLB ({gltf.name})",
    )
    return motion, notes


def _numbered(nodes: dict[str, int], prefix: str) -> list[int]:
    found = {}
    for name, index in nodes.items():
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            found[int(name[len(prefix):])] = index
    if sorted(found) != list(range(len(found))):
        raise InputError(f"'{prefix}' nodes are not numbered 0..{len(found) - 1}; the file is not the node's layout.")
    return [found[i] for i in range(len(found))]


def _node_tracks(gltf: Gltf) -> tuple[dict[tuple[int, str], np.ndarray], np.ndarray]:
    animations = gltf.list("animations")
    if not animations:
        raise InputError(f"{gltf.name} has no animation; a pose GLB from the node always has one.")
    anim = animations[0]
    samplers = anim.get("samplers", [])
    tracks: dict[tuple[int, str], np.ndarray] = {}
    times = None
    for channel in anim.get("channels", []):
        try:
            sampler = samplers[channel["sampler"]]
            target = channel["target"]
            key = (int(target["node"]), str(target["path"]))
        except (KeyError, IndexError, TypeError, ValueError):
            raise InputError(f"{gltf.name}: an animation channel is malformed; the file is damaged.") from None
        if sampler.get("interpolation", "LINEAR") == "CUBICSPLINE":
            raise InputError(f"{gltf.name}: cubic-spline keys are not the node's layout.")
        input_times = gltf.accessor(sampler["input"]).reshape(-1)
        values = gltf.accessor(sampler["output"])
        if times is None:
            times = input_times
        elif len(input_times) != len(times) or not np.allclose(input_times, times):
            raise InputError(f"{gltf.name}: channels use different key times; the node writes one key per frame for all.")
        if len(values) != len(times):
            raise InputError(f"{gltf.name}: a channel has {len(values)} keys for {len(times)} times; the file is damaged.")
        tracks[key] = values.astype(np.float64)
    if times is None or len(times) == 0:
        raise InputError(f"{gltf.name}: the animation has no keys.")
    return tracks, times


def _track(tracks: dict, gltf: Gltf, node: int, path: str, frames: int) -> np.ndarray:
    if (node, path) in tracks:
        return tracks[(node, path)]
    default = {"translation": [0.0, 0.0, 0.0], "rotation": [0.0, 0.0, 0.0, 1.0], "scale": [1.0, 1.0, 1.0]}[path]
    value = np.asarray(gltf.list("nodes")[node].get(path, default), np.float64)
    return np.broadcast_to(value, (frames, len(default))).copy()


def _rotate_y(quat: np.ndarray) -> np.ndarray:
    """Unit +Y rotated by glTF quaternions (x, y, z, w)."""
    x, y, z, w = np.moveaxis(quat / np.linalg.norm(quat, axis=-1, keepdims=True).clip(1e-12), -1, 0)
    return np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], -1)


def _missing_limb_centre(tracks: dict, gltf: Gltf, joint0: int, limb0_valid: np.ndarray, frames: int) -> np.ndarray | None:
    """c * s, read off the first joint in frames where the first person's first limb was missing.

    Only when that person was there in the first frame: otherwise the node collapsed all their
    joints into one and the first joint means nothing."""
    if limb0_valid.all() or not limb0_valid[0]:
        return None
    where = _track(tracks, gltf, joint0, "translation", frames)[~limb0_valid]
    if np.ptp(where, axis=0).max() > 1e-4:
        return None
    return -where.mean(axis=0)


def _estimate_undrawn(joints: np.ndarray) -> np.ndarray:
    """Fill the SMPL joints the node never drew from the 14 it did, so a rig can be built."""
    out = joints.copy()
    pelvis = (out[..., 1, :] + out[..., 2, :]) / 2
    neck = out[..., 12, :]
    out[..., 0, :] = pelvis
    for index, t in ((3, 0.25), (6, 0.5), (9, 0.72)):
        out[..., index, :] = pelvis + (neck - pelvis) * t
    out[..., 13, :] = neck + (out[..., 16, :] - neck) * 0.45
    out[..., 14, :] = neck + (out[..., 17, :] - neck) * 0.45
    out[..., 10, :] = out[..., 7, :] + (out[..., 7, :] - out[..., 4, :]) * 0.2
    out[..., 11, :] = out[..., 8, :] + (out[..., 8, :] - out[..., 5, :]) * 0.2
    out[..., 22, :] = out[..., 20, :] + (out[..., 20, :] - out[..., 18, :]) * 0.3
    out[..., 23, :] = out[..., 21, :] + (out[..., 21, :] - out[..., 19, :]) * 0.3
    return out
