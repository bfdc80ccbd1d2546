"""Read the GLB that ComfyUI-SCAIL-Pose's "Save NLF Poses as 3D" node writes, back into Motion.

That file is a preview, not a rig: per person 14 joint spheres and 13 limb cylinders, positions
flipped to glTF axes, shifted by the clip's bounding-box centre c and scaled by s. The limb
cylinders carry both ends of every limb in every frame (start = translation, end = start +
rotation * (0, length, 0)), so the 14 drawn joints come back exactly up to c and s:
- s is the sphere scale divided by the node's cylinder radius (21.5 mm unless changed; a
  radius the file was saved with shows as people far from human height, and is then estimated
  from their size);
- c is not stored. It shows through wherever someone is missing (the node leaves their joint
  spheres at (0 - c) * s); otherwise the clip is put on the optical axis where it fits a
  55-degree view, which keeps its shape and motion but not its true place.
When a person leaves, the node refills its slots by nearest pelvis, swapping people between
slots; the swaps are found by following each person and undone. Keys are written at i / fps
with the node's default of 24; repeated keys reveal a clip resampled from a slower rate. The
other ten SMPL joints were never drawn; they are estimated from their neighbours. Every guess
is a note for ``scail motion info``.
"""

from __future__ import annotations

import math
from itertools import permutations

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
# Standing heights taken as adult people; outside them the radius the file was saved with is
# probably not the default, and the clip is scaled to HUMAN_SCALE_MM instead.
HUMAN_HEIGHT_MM = (1350.0, 2100.0)
HUMAN_SCALE_MM = 1700.0
# Thigh + shank + hip-to-neck + neck-to-head as a share of standing height (as rig/scale.py).
SKELETON_SHARE_OF_HEIGHT = 0.851
COMMON_FPS = (8.0, 10.0, 12.0, 12.5, 15.0, 16.0, 20.0, 23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 60.0)


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

    if not present.any():
        raise InputError(f"{gltf.name}: every limb has zero length in every frame; there is no pose to recover.")
    notes = ["no camera or image size in this file: renders use the default 55-degree NLF camera",
             "pelvis, spine, collars, feet and hand ends are not in this file: estimated from the drawn joints"]
    lost = [p + 1 for p in range(people) if not present[:, p].any()]
    if lost:
        notes.append(f"person {', '.join(map(str, lost))}: absent from the first frame, so the node dropped them")
    points = scaled[present][:, DRAWN].reshape(-1, 3)
    extent = float(np.max(points.max(0) - points.min(0)))
    if abs(extent - NODE_EXTENT) > 0.01 and abs(s - 1.0) > 1e-6:
        notes.append(f"the clip spans {extent:.3f} units, not the node's {NODE_EXTENT}: the file may have been edited")
    swaps = _undo_slot_swaps(scaled, present)
    if swaps:
        notes.append("people: the node swapped slots when someone left the frame (it follows the nearest pelvis); "
                     "undone at pose frame(s) " + ", ".join(str(t + 1) for t in swaps))

    height = _implied_height_mm(scaled / s, present)
    if radius_mm == DEFAULT_RADIUS_MM and height is not None and not HUMAN_HEIGHT_MM[0] <= height <= HUMAN_HEIGHT_MM[1]:
        radius_mm = radius_mm * HUMAN_SCALE_MM / height
        s = float(np.median(sphere)) / radius_mm
        notes.insert(0, f"scale: with the node's default cylinder_radius of {DEFAULT_RADIUS_MM:g} mm the people "
                        f"would be {height / 1000:.2f} m tall, so the file was saved with a cylinder_radius of about "
                        f"{radius_mm:.1f} mm; read with that radius (people {HUMAN_SCALE_MM / 1000:.2f} m tall)")
    else:
        tall = f" (people {height / 1000:.2f} m tall)" if height else ""
        notes.insert(0, f"scale: taken from the joint spheres with the node's cylinder radius of {radius_mm:g} mm{tall}")

    centre = _revealed_centre(tracks, gltf, joint_nodes, start, end, valid, frames)
    if centre is not None:
        notes.append("position: recovered exactly from the joints of missing people, which the node leaves at "
                     "the clip's centre")
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
        notes += _fps_notes(scaled, present, fps)
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


def _revealed_centre(tracks: dict, gltf: Gltf, joint_nodes: list[int], start: np.ndarray, end: np.ndarray,
                     valid: np.ndarray, frames: int) -> np.ndarray | None:
    """c * s, read off every joint sphere whose limbs are all missing in a frame.

    The node places such a joint at (0 - c) * s (a missing person's joints are zeros); which
    limbs touch which sphere is known from the first frame, where the node built its spheres.
    None when no frame shows it, or the spheres disagree (then it is not that)."""
    where = []
    for node in joint_nodes:
        position = _track(tracks, gltf, node, "translation", frames)
        touching = (np.linalg.norm(start[0] - position[0], axis=-1) < 1e-4) | \
            (np.linalg.norm(end[0] - position[0], axis=-1) < 1e-4)
        if not touching.any() or not valid[0, touching].all():
            continue
        gone = ~valid[:, touching].any(axis=1)
        where.extend(position[gone])
    if not where:
        return None
    where = np.asarray(where)
    if np.ptp(where, axis=0).max() > 1e-4:
        return None
    return -where.mean(axis=0)


def _undo_slot_swaps(scaled: np.ndarray, present: np.ndarray) -> list[int]:
    """Put people back in their own slots where the node swapped them; the frames it happened.

    Each slot is matched to the track whose last seen centre (mean of the drawn joints) is
    nearest, over every assignment; a better assignment than the slots' own is a swap."""
    frames, people = present.shape
    if people < 2 or people > 6:
        return []
    centre = scaled[:, :, DRAWN].mean(axis=2)
    last = [None] * people
    order = list(range(people))  # track k is in slot order[k] for the current frame
    swaps = []
    for t in range(frames):
        if t and all(x is not None for x in last):
            def cost(assign, t=t):
                return sum(float(np.linalg.norm(centre[t, assign[k]] - last[k])) for k in range(people)
                           if present[t, assign[k]])
            best = min(permutations(range(people)), key=cost)
            if list(best) != order and cost(best) < 0.5 * cost(order):
                order = list(best)
                swaps.append(t)
        if order != list(range(people)):
            scaled[t] = scaled[t, order]
            present[t] = present[t, order]
            centre[t] = centre[t, order]
        for k in range(people):
            if present[t, k]:
                last[k] = centre[t, k]
    return swaps


def _implied_height_mm(joints: np.ndarray, present: np.ndarray) -> float | None:
    """Standing height from the drawn joints' lengths along the body (median over frames), as
    rig/scale.py measures it; None without anyone present."""
    p = joints[present]
    if not len(p):
        return None
    leg = sum(np.linalg.norm(p[:, a] - p[:, b], axis=-1) for a, b in ((1, 4), (4, 7), (2, 5), (5, 8))) / 2
    trunk = np.linalg.norm(p[:, 12] - (p[:, 1] + p[:, 2]) / 2, axis=-1)
    head = np.linalg.norm(p[:, 15] - p[:, 12], axis=-1)
    return float(np.median((leg + trunk + head) / SKELETON_SHARE_OF_HEIGHT))


def _fps_notes(scaled: np.ndarray, present: np.ndarray, fps: float) -> list[str]:
    """A frame rate that is probably not the clip's own: the node's default, or resampled keys
    (whole frames repeated, as when a slower clip is stretched to a higher rate)."""
    notes = []
    moved = np.abs(np.diff(scaled[:, :, DRAWN], axis=0)).max(axis=(1, 2, 3)) > 1e-7
    seen = present[1:].any(axis=1) & present[:-1].any(axis=1)
    repeats = int((~moved & seen).sum())
    if repeats >= 2 and repeats < len(moved):
        unique = 1 - repeats / len(moved)
        real = min(COMMON_FPS, key=lambda rate: abs(rate - fps * unique))
        notes.append(f"frame rate: {repeats} of {len(moved)} keys repeat the one before, as when a {real:g} fps clip "
                     f"is resampled to {fps:g} fps: the motion is probably {real:g} fps (drop the repeated frames)")
    elif fps == NODE_FPS:
        notes.append(f"frame rate: {fps:g} fps is the node's default; SCAIL works at 16 fps, so a clip from a "
                     "16 fps run saved with the default plays 1.5x too fast: check the node's fps setting")
    return notes


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
