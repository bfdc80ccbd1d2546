"""NLF results, in the shapes the official scripts and ComfyUI nodes leave them, to Motion.

Three layouts exist in the wild:
- NLF's own result dict: ``{"joints3d_nonparam": [per image: n x 24 x 3], "pose": [...], ...}``
  with a different, unordered set of detections in every image;
- ComfyUI's NLFPRED, the same dict with every value wrapped in a one-element list;
- SCAIL-Pose's batch pickle: a list of per-frame dicts whose ``"nlfpose"`` holds one detection
  list per person box (slot order is person identity, an empty list means "not found").
Detections carry no identity, so people are tracked by nearest body centre; slots keep their
order. Stacked arrays ([T, 24, 3] or [T, P, 24, 3]) are accepted too.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..errors import InputError
from ..pose.camera import Intrinsics
from .model import JOINT_COUNT, Motion, SmplParams

JOINT_KEYS = ("joints3d_nonparam", "joints3d", "poses3d")
SMPL_KEYS = ("pose", "betas", "trans")
# A detection this far (mm) from every known person starts a new person when a slot is free.
NEW_PERSON_MM = 1000.0
BRUTE_FORCE_PEOPLE = 6


def motion_from_nlf(obj: Any, name: str, fps: float | None = None) -> tuple[Motion, list[str]]:
    """Turn an unpickled NLF result into Motion; the notes say what was assumed."""
    notes: list[str] = []
    size = None
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(f, dict) and "nlfpose" in f for f in obj):
        joints, size = _slot_frames(obj, name)
        smpl = None
        notes.append("people are the SCAIL-Pose person boxes, in box order")
    else:
        result, size = _find_result(obj, name)
        key = next(k for k in JOINT_KEYS if k in result)
        frames = _frames(_unwrap(result[key]), f"{name}: '{key}'")
        tables = {k: _table(_unwrap(result[k]), f"{name}: '{k}'", frames) for k in SMPL_KEYS if k in result}
        order = _track(frames, name)
        joints = _gather(frames, order, (JOINT_COUNT, 3))
        smpl = None
        if len(tables) == len(SMPL_KEYS):
            widths = [max((rows.shape[1] for rows in tables[k] if rows.size), default=0) for k in SMPL_KEYS]
            smpl = SmplParams(*(_gather(tables[k], order, (w,)) for k, w in zip(SMPL_KEYS, widths)))
        if joints.shape[1] > 1:
            notes.append("people were matched across frames by nearest body centre (NLF detections carry no identity)")
        if key != "joints3d_nonparam":
            notes.append(f"joints come from '{key}' (no 'joints3d_nonparam' in the file)")
    intrinsics = None
    if size is not None:
        intrinsics = Intrinsics.default(*size)
        notes.append("camera: NLF's default 55-degree field of view for the recorded video size")
    else:
        notes.append("camera and image size are not in NLF results; renders use the 55-degree NLF default")
    if fps is None:
        notes.append("frame rate is not in NLF results; assumed 16 fps (SCAIL's rate)")
    motion = Motion(
        joints=joints,
        fps=fps if fps is not None else 16.0,
        intrinsics=intrinsics,
        image_size=size,
        smpl=smpl,
        source=f"NLF results ({name})",
    )
    if not motion.present().any():
        raise InputError(f"{name}: no person was detected in any frame; there is no motion to use.")
    return motion, notes


def _find_result(obj: Any, name: str) -> tuple[dict[str, Any], tuple[int, int] | None]:
    if isinstance(obj, dict):
        size = _video_size(obj)
        if any(k in obj for k in JOINT_KEYS):
            return obj, size
        for value in obj.values():
            if isinstance(value, dict) and any(k in value for k in JOINT_KEYS):
                return value, size
        raise InputError(
            f"{name} is a dict without NLF joints: found keys {sorted(map(str, obj))[:12]}, "
            f"expected one of {list(JOINT_KEYS)}."
        )
    if isinstance(obj, (list, tuple, np.ndarray)) or hasattr(obj, "detach"):
        return {"joints3d_nonparam": obj}, None
    raise InputError(f"{name} holds a {type(obj).__name__}, not NLF results (a dict with 'joints3d_nonparam').")


def _video_size(meta: dict[str, Any]) -> tuple[int, int] | None:
    try:
        return int(meta["video_height"]), int(meta["video_width"])
    except (KeyError, TypeError, ValueError):
        return None


def _unwrap(value: Any) -> Any:
    """Per-frame lists as lists: npz object arrays become lists, and ComfyUI's one-element
    wrapper list is removed."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = list(value)
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], (list, tuple)):
        return value[0]
    return value


def _array(value: Any) -> np.ndarray:
    if value is None:
        return np.zeros((0,), np.float32)
    if hasattr(value, "detach"):
        value = value.detach().cpu().float().numpy()
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"expected numbers, found {type(value).__name__}") from None


def _per_frame(value: Any, what: str) -> list[np.ndarray]:
    """Per-frame arrays from a per-frame list, or the frames of a stacked array."""
    try:
        if isinstance(value, (list, tuple)):
            frames = [_array(item) for item in value]
        else:
            frames = list(_array(value))
    except InputError as exc:
        raise InputError(f"{what}: {exc}.") from None
    if not frames:
        raise InputError(f"{what} has no frames.")
    return frames


def _frames(value: Any, what: str) -> list[np.ndarray]:
    """Per-frame joints [n_t, 24, 3]; a stacked [T, 24, 3] array is one person."""
    if not isinstance(value, (list, tuple)):
        stacked = _array(value)
        if stacked.ndim == 3:
            value = stacked[:, None]
    checked = []
    for t, array in enumerate(_per_frame(value, what)):
        if array.size == 0:
            array = np.zeros((0, JOINT_COUNT, 3), np.float32)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[1:] != (JOINT_COUNT, 3):
            raise InputError(f"{what}, frame {t}: shape {list(array.shape)}, expected [people, 24, 3] SMPL joints.")
        if not np.all(np.isfinite(array)):
            raise InputError(f"{what}, frame {t}: joints contain NaN or infinite values; the estimate is unusable.")
        checked.append(array[np.any(array != 0, axis=(1, 2))])  # all-zero rows are padding, not people
    return checked


def _table(value: Any, what: str, joints: list[np.ndarray]) -> list[np.ndarray]:
    """Per-frame rows [n_t, k] that must line up with the detections of ``joints``."""
    frames = _per_frame(value, what)
    if len(frames) != len(joints):
        raise InputError(f"{what} has {len(frames)} frames but the joints have {len(joints)}; the file is inconsistent.")
    rows = []
    for t, (array, people) in enumerate(zip(frames, joints)):
        if len(people) == 0 and array.size == 0:
            rows.append(np.zeros((0, 0), np.float32))
            continue
        array = array.reshape(1 if array.ndim < 2 else array.shape[0], -1)
        if array.shape[0] != len(people):
            raise InputError(f"{what}, frame {t}: {array.shape[0]} entries for {len(people)} detected people.")
        if not np.all(np.isfinite(array)):
            raise InputError(f"{what}, frame {t}: values contain NaN or infinite numbers.")
        rows.append(array)
    return rows


def _track(frames: list[np.ndarray], name: str) -> list[list[int]]:
    """For every frame, the detection index of each person (-1: absent)."""
    people = max(len(f) for f in frames)
    if people == 0:
        raise InputError(f"{name}: no person was detected in any frame; there is no motion to use.")
    last: list[np.ndarray | None] = [None] * people
    order = []
    for detections in frames:
        centres = [d.mean(axis=0) for d in detections]
        cost = np.array([[NEW_PERSON_MM if known is None else float(np.linalg.norm(c - known)) for c in centres]
                         for known in last]).reshape(people, len(centres))
        slots = _assign(cost)
        for person, det in enumerate(slots):
            if det >= 0:
                last[person] = centres[det]
        order.append(slots)
    return order


def _assign(cost: np.ndarray) -> list[int]:
    """Detection per person minimising total distance (exact for few people, greedy beyond)."""
    people, dets = cost.shape
    if dets == 0:
        return [-1] * people
    if people <= BRUTE_FORCE_PEOPLE:
        best, best_cost = None, np.inf
        for persons in itertools.permutations(range(people), dets):
            total = sum(cost[p, d] for d, p in enumerate(persons))
            if total < best_cost - 1e-9:
                best, best_cost = persons, total
        slots = [-1] * people
        for d, p in enumerate(best):
            slots[p] = d
        return slots
    slots = [-1] * people
    for flat in np.argsort(cost, axis=None):
        p, d = divmod(int(flat), dets)
        if slots[p] < 0 and d not in slots:
            slots[p] = d
    return slots


def _gather(frames: list[np.ndarray], order: list[list[int]], width: tuple[int, ...]) -> np.ndarray:
    people = len(order[0])
    out = np.zeros((len(frames), people, *width), np.float32)
    for t, (values, slots) in enumerate(zip(frames, order)):
        for person, det in enumerate(slots):
            if det >= 0:
                out[t, person] = values[det].reshape(width)
    return out


def _slot_frames(frames: list[dict[str, Any]], name: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    people = max(len(f["nlfpose"] or []) for f in frames)
    if people == 0:
        raise InputError(f"{name}: no person box in any frame; there is no motion to use.")
    joints = np.zeros((len(frames), people, JOINT_COUNT, 3), np.float32)
    for t, frame in enumerate(frames):
        for person, detections in enumerate(frame["nlfpose"] or []):
            array = _frames([detections], f"{name}: frame {t} person {person}")[0]
            if len(array):
                joints[t, person] = array[0]
    return joints, _video_size(frames[0])
