"""SMPL-family parameter files (AMASS npz, SMPL-X fits) to Motion.

Two layouts are recognised by their keys:
- AMASS: ``poses`` [T, 72 (SMPL), 156 (SMPL+H) or 165 (SMPL-X)], ``trans`` [T, 3], ``betas``,
  ``gender``, ``mocap_frame_rate`` (or ``mocap_framerate``); world z up.
- per-part fits (SMPL-X's own layout): ``global_orient`` [T, 3], ``body_pose`` [T, 63 or 69],
  ``transl``, ``betas``, optional hand, jaw and eye poses; the model's frame (y up).
Joints come from the user's own body model: SMPL and SMPL+H bodies through this package's
numpy skinning (``smpl.smpl_forward``), SMPL-X through the ``smplx`` package. Without a model
the approximate neutral skeleton gives the joints (the notes say so). The motion is put in front
of a default camera (NLF's 55 degrees at 512x896) looking at the clip's centre, and its SMPL
parameters are kept, turned into that camera's frame, so a rig with rotations can be built.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..pose.camera import Intrinsics
from .model import Motion, SmplParams
from .rotations import matrix_to_quat
from .safe_pickle import load_npz
from .smpl import BodyModel, load_body_model, rodrigues, smpl_forward

log = logging.getLogger(__name__)

MODELS_ENV = "SCAIL_SMPL_MODELS"
AMASS_KEYS = ("poses", "trans")
PART_KEYS = ("global_orient", "body_pose")
FPS_KEYS = ("mocap_frame_rate", "mocap_framerate", "fps")
IMAGE_SIZE = (512, 896)
MIN_DEPTH_MM = 2500.0
# World frame to OpenCV camera axes (x right, y down, z forward).
Z_UP_TO_CAMERA = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])   # camera looks along +y
Y_UP_TO_CAMERA = np.diag([1.0, -1.0, -1.0])                          # camera faces the model's front
# SMPL-X joints standing in for SMPL's hand joints 22, 23: the index finger bases.
SMPLX_HANDS = (25, 40)


def is_smpl_params(arrays: dict[str, Any]) -> bool:
    """Whether npz arrays are SMPL-family parameters rather than joints."""
    return all(k in arrays for k in AMASS_KEYS) or all(k in arrays for k in PART_KEYS)


def motion_from_smpl_params(arrays: dict[str, Any], name: str, body_model: str | os.PathLike | None = None,
                            fps: float | None = None) -> tuple[Motion, list[str]]:
    """Motion (one person) from SMPL-family parameters; the notes say what was assumed."""
    notes: list[str] = []
    pose, trans, betas, kind, z_up = _parameters(arrays, name)
    gender = _gender(arrays)
    rate = fps if fps is not None else next((float(np.asarray(arrays[k]).reshape(())) for k in FPS_KEYS if k in arrays), None)
    if rate is None:
        rate = 30.0
        notes.append("the file has no frame rate; assumed 30 fps (pass --fps to change it)")
    model = body_model if body_model is not None else os.environ.get(MODELS_ENV)
    joints, pelvis = _joints(pose, betas, trans, kind, gender, model, name, notes)
    to_camera = Z_UP_TO_CAMERA if z_up else Y_UP_TO_CAMERA
    camera_joints = joints @ to_camera.T * 1000.0
    offset = _framing(camera_joints, Intrinsics.default(*IMAGE_SIZE))
    camera_joints += offset
    notes.append(f"{kind} parameters ({gender}); placed {offset[2] / 1000:.1f} m in front of NLF's default camera "
                 f"at {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}" + (", world z up, camera looking along +y" if z_up else ""))
    kept = pose if kind == "SMPL-X" else _as_smpl(pose)
    kept = kept.copy()
    kept[:, :3] = _rotvec(to_camera @ rodrigues(kept[:, :3]))
    # FK turns the root about the rest pelvis: choose trans so the turned body lands where it is.
    new_trans = (pelvis + trans) @ to_camera.T + offset / 1000.0 - pelvis
    frames = len(pose)
    smpl = SmplParams(kept[:, None], np.broadcast_to(betas, (frames, len(betas)))[:, None].copy(), new_trans[:, None])
    motion = Motion(joints=camera_joints[:, None].astype(np.float32), fps=rate, intrinsics=Intrinsics.default(*IMAGE_SIZE),
                    image_size=IMAGE_SIZE, person_ids=[Path(name).stem], smpl=smpl, source=f"{kind} parameters ({name})")
    return motion, notes


def body_sequence(arrays: dict[str, Any], body: BodyModel, mesh: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Joints [T, 24, 3] and vertices [T, V, 3] (metres, the file's frame) of SMPL / SMPL+H
    parameters through the user's SMPL model."""
    pose, trans, betas, kind, _ = _parameters(arrays, "parameters")
    if kind == "SMPL-X":
        raise InputError("SMPL-X meshes come from the smplx package with your SMPL-X model; this takes SMPL files")
    return smpl_forward(body, _as_smpl(pose), betas, trans, mesh=mesh)


def _parameters(arrays: dict[str, Any], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, bool]:
    """Pose [T, 72 | 156 | 165], trans [T, 3], betas [B], the model kind and whether z is up."""
    def numbers(key: str) -> np.ndarray:
        try:
            return np.asarray(arrays[key], np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name}: '{key}' must be numbers") from None

    if all(k in arrays for k in AMASS_KEYS):
        pose = numbers("poses").reshape(len(np.asarray(arrays["poses"])), -1)
        trans = numbers("trans").reshape(-1, 3)
        kinds = {72: "SMPL", 156: "SMPL+H", 165: "SMPL-X"}
        if pose.shape[1] not in kinds:
            raise InputError(f"{name}: 'poses' has {pose.shape[1]} values per frame; expected 72 (SMPL), "
                             "156 (SMPL+H) or 165 (SMPL-X)")
        kind, z_up = kinds[pose.shape[1]], True
    else:
        body = numbers("body_pose")
        frames = len(body)
        parts = [numbers("global_orient").reshape(frames, 3), body.reshape(frames, -1)]
        if parts[1].shape[1] == 69:
            kind = "SMPL"
        elif parts[1].shape[1] == 63:
            kind = "SMPL-X"
            for key, width in (("jaw_pose", 3), ("leye_pose", 3), ("reye_pose", 3), ("left_hand_pose", 45),
                               ("right_hand_pose", 45)):
                parts.append(numbers(key).reshape(frames, width) if key in arrays else np.zeros((frames, width)))
        else:
            raise InputError(f"{name}: 'body_pose' has {parts[1].shape[1]} values; expected 69 (SMPL) or 63 (SMPL-X)")
        pose = np.concatenate(parts, axis=1)
        trans = numbers("transl").reshape(frames, 3) if "transl" in arrays else np.zeros((frames, 3))
        z_up = False
    if len(trans) != len(pose):
        raise InputError(f"{name}: {len(pose)} poses but {len(trans)} translations")
    if not len(pose):
        raise InputError(f"{name} has no frames")
    betas = numbers("betas").reshape(-1, numbers("betas").shape[-1])[0] if "betas" in arrays else np.zeros(10)
    if not (np.isfinite(pose).all() and np.isfinite(trans).all() and np.isfinite(betas).all()):
        raise InputError(f"{name}: parameters contain NaN or infinite values")
    return pose, trans, betas, kind, z_up


def _as_smpl(pose: np.ndarray) -> np.ndarray:
    """SMPL's 72 values: SMPL+H / SMPL-X keep body joints 0-21, SMPL's two hand joints get none."""
    return pose if pose.shape[1] == 72 else np.concatenate([pose[:, :66], np.zeros((len(pose), 6))], axis=1)


def _gender(arrays: dict[str, Any]) -> str:
    if "gender" not in arrays:
        return "neutral"
    value = np.asarray(arrays["gender"]).reshape(-1)[0]
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.strip().lower() if text.strip().lower() in ("male", "female", "neutral") else "neutral"


def _joints(pose: np.ndarray, betas: np.ndarray, trans: np.ndarray, kind: str, gender: str,
            model: str | os.PathLike | None, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Posed joints [T, 24, 3] in the file's frame (metres) and the rest pelvis [3]."""
    if kind == "SMPL-X" and model is not None:
        return _smplx_joints(pose, betas, trans, gender, Path(model))
    body = None
    if model is not None:
        found = _model_file(Path(model), gender, "smpl")
        body = load_body_model(found)
        notes.append(f"body model: {found.name}")
    else:
        notes.append(f"no body model given (--smpl-model or ${MODELS_ENV}): joints from an approximate "
                     "neutral skeleton, body shape ignored")
    if kind != "SMPL":
        notes.append(f"{kind} body joints through SMPL; finger rotations are not used")
    joints, _ = smpl_forward(body, _as_smpl(pose), betas, trans)
    pelvis = body.rest(betas)[1][0] if body is not None else np.zeros(3)
    return joints, pelvis


def _smplx_joints(pose: np.ndarray, betas: np.ndarray, trans: np.ndarray, gender: str,
                  model: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        import smplx
        import torch
    except ImportError as exc:
        raise InputError("SMPL-X files need the smplx package: pip install 'scail-blender[motion]'") from exc
    path = _model_file(model, gender, "smplx")
    if path.suffix != ".npz":
        raise InputError(f"{path.name}: give the SMPL-X model as .npz (smplx would unpickle a .pkl without checks)")
    load_npz(path)  # refuses pickled objects outside the allowlist before smplx loads the file
    layer = smplx.SMPLX(str(path), gender=gender, use_pca=False, flat_hand_mean=True, num_betas=len(betas),
                        use_face_contour=False, ext="npz")

    def run(rows: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.array(a), dtype=torch.float32)

        n = len(rows)
        with torch.no_grad():
            out = layer(global_orient=t(rows[:, :3]), body_pose=t(rows[:, 3:66]), jaw_pose=t(rows[:, 66:69]),
                        leye_pose=t(rows[:, 69:72]), reye_pose=t(rows[:, 72:75]), left_hand_pose=t(rows[:, 75:120]),
                        right_hand_pose=t(rows[:, 120:165]), betas=t(np.broadcast_to(betas, (n, len(betas)))),
                        transl=t(shifts), expression=torch.zeros(n, layer.num_expression_coeffs))
        joints = out.joints.numpy().astype(np.float64)
        return np.concatenate([joints[:, :22], joints[:, list(SMPLX_HANDS)]], axis=1)

    rest = run(np.zeros((1, 165)), np.zeros((1, 3)))[0, 0]
    return run(pose, trans), rest


def _model_file(model: Path, gender: str, kind: str) -> Path:
    """The user's model file: ``model`` itself, or the gendered (else neutral) file in that folder."""
    if model.is_file():
        return model
    prefix = "SMPLX" if kind == "smplx" else "SMPL"
    for place in (model, model / kind):
        for g in (gender, "neutral"):
            for suffix in (".npz",) if kind == "smplx" else (".npz", ".pkl"):
                candidate = place / f"{prefix}_{g.upper()}{suffix}"
                if candidate.is_file():
                    return candidate
    other = "" if kind == "smplx" else " (or .pkl)"
    raise InputError(f"No {prefix} model for '{gender}' in {model}: put {prefix}_{gender.upper()}.npz{other} or the "
                     f"NEUTRAL one there; the models are licensed and downloaded from smpl{'-x' if kind == 'smplx' else ''}.is.tue.mpg.de")


def _framing(joints_mm: np.ndarray, camera: Intrinsics) -> np.ndarray:
    """Offset (mm) that centres the clip in front of the camera, far enough to see all of it."""
    lo, hi = joints_mm.reshape(-1, 3).min(axis=0), joints_mm.reshape(-1, 3).max(axis=0)
    height, width = IMAGE_SIZE
    depth = max(MIN_DEPTH_MM, camera.fx * (hi[0] - lo[0]) / (0.8 * width), camera.fy * (hi[1] - lo[1]) / (0.8 * height))
    depth += (hi[2] - lo[2]) / 2
    centre = (lo + hi) / 2
    return np.array([-centre[0], -centre[1], depth - centre[2]])


def _rotvec(matrices: np.ndarray) -> np.ndarray:
    """Axis-angle vectors [..., 3] of rotation matrices."""
    q = matrix_to_quat(matrices)  # (x, y, z, w), w >= 0
    sin_half = np.linalg.norm(q[..., :3], axis=-1, keepdims=True)
    angle = 2 * np.arctan2(sin_half, q[..., 3:4])
    return np.where(sin_half > 1e-12, q[..., :3] / np.maximum(sin_half, 1e-12) * angle, 2 * q[..., :3])
