"""SMPL meshes (NLF's ``vertices3d``) to joints and fitted SMPL parameters.

Joints are the body model's ``J_regressor`` applied to each posed mesh, as SMPL defines them.
The parameters come from a least-squares inverse of linear blend skinning:
1. skinning is linear in the 24 per-joint 3x4 transforms, so one linear solve over all vertices
   gives them for every frame at once (exact for a mesh without pose blend shapes);
2. each transform's 3x3 part is snapped to the nearest rotation, and the local joint rotations
   and the translation follow from the kinematic tree;
3. the body shape is the least-squares betas of the meshes unposed with those transforms;
4. a damped Gauss-Newton refinement of pose and translation on a fixed subset of vertices, then
   the shape again, absorbs the pose blend shapes and the weights' blending.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .model import Motion, SmplParams
from .smpl import SMPL_PARENTS, BodyModel, forward_kinematics, load_body_model, rodrigues, smpl_forward

log = logging.getLogger(__name__)

REFINE_VERTICES = 600
REFINE_STEPS = 6
DIFF_STEP = 1e-6
DAMPING = 1e-9
MESH_KEY = "vertices3d"


@dataclass
class MeshFit:
    pose: np.ndarray   # [T, 72] axis-angle
    betas: np.ndarray  # [B]
    trans: np.ndarray  # [T, 3] metres
    rms_m: float       # vertex error of the fitted meshes


def fit_meshes(body: BodyModel, vertices: np.ndarray, refine: bool = True) -> MeshFit:
    """SMPL parameters of meshes ``vertices`` [T, V, 3] (metres, the model's topology)."""
    from .smpl_params import _rotvec

    target = np.asarray(vertices, np.float64)
    if target.ndim != 3 or target.shape[1:] != body.v_template.shape:
        raise InputError(f"meshes have shape {list(target.shape)}; the body model has {len(body.v_template)} vertices")
    betas = np.zeros(body.shapedirs.shape[2])
    for _ in range(2):
        rest, rest_joints = body.rest(betas)
        skin = _skin_transforms(body, rest, target)               # [T, 24, 3, 4]
        betas = _shape(body, skin, target)
    rest, rest_joints = body.rest(betas)
    skin = _skin_transforms(body, rest, target)
    world_rot = _nearest_rotation(skin[..., :3])
    local = world_rot.copy()
    local[:, 1:] = np.swapaxes(world_rot[:, list(SMPL_PARENTS[1:])], -1, -2) @ world_rot[:, 1:]
    pose = _rotvec(local).reshape(len(target), 72)
    # world pelvis = skin translation + R0 J0 = J0 + trans
    trans = skin[:, 0, :, 3] + world_rot[:, 0] @ rest_joints[0] - rest_joints[0]
    if refine:
        pick = np.linspace(0, len(rest) - 1, min(REFINE_VERTICES, len(rest))).astype(np.int64)
        for _ in range(2):  # pose with the shape fixed, then the shape with the pose fixed
            pose, trans = _refine(body, pose, trans, betas, target[:, pick], pick)
            betas = _posed_shape(body, pose, betas, trans, target)
    _, fitted = smpl_forward(body, pose, betas, trans, mesh=True)
    rms = float(np.sqrt(np.mean(np.sum((fitted - target) ** 2, axis=-1))))
    log.info("mesh fit: %d frames, rms %.2f mm", len(target), rms * 1000)
    return MeshFit(pose, betas, trans, rms)


def _skin_transforms(body: BodyModel, rest: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per frame the 24 transforms [T, 24, 3, 4] that best skin ``rest`` onto ``target``."""
    homogeneous = np.c_[rest, np.ones(len(rest))]                             # [V, 4]
    design = (body.weights[:, :, None] * homogeneous[:, None, :]).reshape(len(rest), -1)  # [V, 96]
    frames = len(target)
    rhs = np.transpose(target, (1, 0, 2)).reshape(len(rest), frames * 3)
    solution, *_ = np.linalg.lstsq(design, rhs, rcond=None)                   # [96, T*3]
    return solution.reshape(24, 4, frames, 3).transpose(2, 0, 3, 1)


def _shape(body: BodyModel, skin: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares betas of the meshes unposed by ``skin`` (pose blend shapes ignored)."""
    per_vertex = np.einsum("vj,tjab->tvab", body.weights, skin)               # [T, V, 3, 4]
    unposed = np.linalg.solve(per_vertex[..., :3], (target - per_vertex[..., 3])[..., None])[..., 0]
    offset = (unposed.mean(axis=0) - body.v_template).ravel()
    dirs = body.shapedirs.reshape(-1, body.shapedirs.shape[2])
    return np.linalg.lstsq(dirs, offset, rcond=None)[0]


def _refine(body: BodyModel, pose: np.ndarray, trans: np.ndarray, betas: np.ndarray, target: np.ndarray,
            pick: np.ndarray, steps: int = REFINE_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Damped Gauss-Newton on pose and translation, every frame at once: the forward-difference
    Jacobian of all frames is one batched skinning call."""
    x = np.c_[pose, trans]
    frames, params = x.shape
    probes = np.vstack([np.zeros(params), DIFF_STEP * np.eye(params)])
    for _ in range(steps):
        flat = (x[:, None, :] + probes[None]).reshape(-1, params)
        _, verts = smpl_forward(body, flat[:, :72], betas, flat[:, 72:], mesh=True, subset=pick)
        verts = verts.reshape(frames, params + 1, -1)
        residual = verts[:, 0] - target.reshape(frames, -1)
        jac = (verts[:, 1:] - verts[:, :1]) / DIFF_STEP                  # [T, 75, 3n]
        normal = jac @ np.swapaxes(jac, 1, 2)
        normal += DAMPING * np.eye(params) * np.trace(normal, axis1=1, axis2=2)[:, None, None] / params
        x = x - np.linalg.solve(normal, (jac @ residual[..., None]))[..., 0]
    return x[:, :72], x[:, 72:]


def _posed_shape(body: BodyModel, pose: np.ndarray, betas: np.ndarray, trans: np.ndarray,
                 target: np.ndarray) -> np.ndarray:
    """Least-squares betas of the meshes unposed exactly (skinning and pose blend shapes of ``pose``)."""
    rotations = rodrigues(pose.reshape(-1, 24, 3))
    _, rest_joints = body.rest(betas)
    world = forward_kinematics(rest_joints, rotations)
    world[:, :, :3, 3] -= np.einsum("tjab,jb->tja", world[:, :, :3, :3], rest_joints)
    per_vertex = np.einsum("vj,tjab->tvab", body.weights, world)
    unposed = np.linalg.solve(per_vertex[..., :3, :3], (target - trans[:, None] - per_vertex[..., :3, 3])[..., None])[..., 0]
    if body.posedirs is not None:
        unposed -= np.einsum("vcp,tp->tvc", body.posedirs, (rotations[:, 1:] - np.eye(3)).reshape(len(pose), -1))
    offset = (unposed.mean(axis=0) - body.v_template).ravel()
    return np.linalg.lstsq(body.shapedirs.reshape(-1, body.shapedirs.shape[2]), offset, rcond=None)[0]


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[..., None]
    return u @ vt


def is_mesh_result(arrays: dict[str, Any]) -> bool:
    from .nlf import JOINT_KEYS

    return MESH_KEY in arrays and not any(k in arrays for k in JOINT_KEYS)


def motion_from_meshes(arrays: dict[str, Any], name: str, body_model: str | os.PathLike | None,
                       fps: float | None = None) -> tuple[Motion, list[str]]:
    """Motion from NLF-style mesh results (``vertices3d``: per frame n x V x 3 mm, or stacked)."""
    from .nlf import _gather, _per_frame, _track, _unwrap
    from .smpl_params import MODELS_ENV, _model_file

    model = body_model if body_model is not None else os.environ.get(MODELS_ENV)
    if model is None:
        raise InputError(f"{name} holds meshes only: joints need your SMPL model (--smpl-model or ${MODELS_ENV})")
    body = load_body_model(_model_file(Path(model), "neutral", "smpl"))
    count = len(body.v_template)
    frames = []
    for t, array in enumerate(_per_frame(_unwrap(arrays[MESH_KEY]), f"{name}: '{MESH_KEY}'")):
        array = array.reshape(-1, *array.shape[-2:]) if array.size else np.zeros((0, count, 3), np.float32)
        if array.shape[1:] != (count, 3):
            raise InputError(f"{name}, frame {t}: meshes of {array.shape[1]} vertices; the SMPL model has {count}")
        frames.append(array[np.any(array != 0, axis=(1, 2))])
    joints_per_frame = [np.einsum("jv,nvc->njc", body.j_regressor, f).astype(np.float32) for f in frames]
    order = _track(joints_per_frame, name)
    joints = _gather(joints_per_frame, order, (24, 3))
    meshes = _gather([f.astype(np.float32) for f in frames], order, (count, 3))
    people = joints.shape[1]
    pose = np.zeros((len(frames), people, 72), np.float32)
    betas = np.zeros((len(frames), people, body.shapedirs.shape[2]), np.float32)
    trans = np.zeros((len(frames), people, 3), np.float32)
    notes = [f"joints regressed from the meshes with {Path(model).name}'s J_regressor"]
    for p in range(people):
        present = np.any(joints[:, p] != 0, axis=(1, 2))
        fit = fit_meshes(body, meshes[present, p] / 1000.0)
        pose[present, p], betas[present, p], trans[present, p] = fit.pose, fit.betas, fit.trans
        notes.append(f"person {p}: SMPL parameters fitted to {present.sum()} meshes, rms {fit.rms_m * 1000:.1f} mm")
    motion = Motion(joints=joints, fps=fps or 16.0, smpl=SmplParams(pose, betas, trans), source=f"NLF meshes ({name})")
    if fps is None:
        notes.append("frame rate is not in NLF results; assumed 16 fps (SCAIL's rate)")
    return motion, notes
