"""The SMPL skeleton's hierarchy and rest pose, and the user's own SMPL body-model files.

SMPL model files are licensed and never shipped: users point at their copy (the official
``SMPL_*.pkl`` or an ``.npz`` conversion). Only the shaped rest mesh, its joints and the skinning
weights are needed, because glTF viewers do the skinning themselves; that is a few lines of
numpy, so neither the ``smplx`` package nor torch is required to export a body mesh.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .safe_pickle import AllowlistUnpickler

# Parent of every SMPL joint (the model's kintree), -1 for the pelvis.
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# Approximate neutral SMPL rest joints in metres (y up, facing +z, subject's left on +x),
# pelvis at the origin. Used for rigs when no body model is configured.
REST_JOINTS = np.array([
    [0.000, 0.000, 0.000], [0.070, -0.091, -0.004], [-0.066, -0.091, -0.007], [-0.001, 0.120, -0.016],
    [0.106, -0.452, 0.008], [-0.104, -0.447, 0.004], [0.007, 0.259, 0.010], [0.090, -0.864, -0.055],
    [-0.090, -0.860, -0.058], [0.004, 0.314, 0.016], [0.121, -0.920, 0.057], [-0.117, -0.918, 0.061],
    [0.001, 0.513, -0.015], [0.079, 0.414, -0.009], [-0.074, 0.413, -0.012], [0.007, 0.577, 0.035],
    [0.201, 0.462, -0.010], [-0.190, 0.460, -0.013], [0.456, 0.446, -0.042], [-0.452, 0.446, -0.048],
    [0.725, 0.454, -0.038], [-0.721, 0.453, -0.038], [0.808, 0.446, -0.049], [-0.806, 0.448, -0.046],
], np.float64)

MODEL_KEYS = ("v_template", "shapedirs", "J_regressor", "weights", "kintree_table", "f")

# Names the neutral SMPL model goes by in the official downloads and the smplx package's layout,
# most specific first.
NEUTRAL_MODEL_NAMES = (
    "SMPL_NEUTRAL.npz", "SMPL_NEUTRAL.pkl",
    "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
)


def find_body_model(folder: str | Path) -> Path | None:
    """The neutral SMPL model in a user's model folder (or its ``smpl/`` sub-folder), if any."""
    folder = Path(folder)
    for place in (folder, folder / "smpl"):
        for name in NEUTRAL_MODEL_NAMES:
            if (place / name).is_file():
                return place / name
    return None


@dataclass(frozen=True)
class BodyModel:
    v_template: np.ndarray   # [V, 3] metres
    shapedirs: np.ndarray    # [V, 3, B]
    j_regressor: np.ndarray  # [24, V]
    weights: np.ndarray      # [V, 24]
    faces: np.ndarray        # [F, 3]
    posedirs: np.ndarray | None = None  # [V, 3, 207] pose blend shapes (only the mesh needs them)

    def rest(self, betas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Shaped rest vertices [V, 3] and joints [24, 3] for ``betas`` (zeros: the template)."""
        verts = self.v_template.copy()
        if betas is not None and len(betas):
            count = min(len(betas), self.shapedirs.shape[2])
            verts += self.shapedirs[:, :, :count] @ np.asarray(betas[:count], np.float64)
        return verts, self.j_regressor @ verts


class _Stand:
    """Receives the pickled state of a chumpy array or scipy sparse matrix without importing them."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


_STANDINS = {
    ("copyreg", "_reconstructor"): lambda cls, base, state: cls.__new__(cls),
    ("builtins", "object"): object,
    ("chumpy.ch", "Ch"): type("Ch", (_Stand,), {}),
    ("chumpy.reordering", "Select"): type("Select", (_Stand,), {}),
    ("scipy.sparse.csc", "csc_matrix"): type("csc_matrix", (_Stand,), {}),
    ("scipy.sparse._csc", "csc_matrix"): type("csc_matrix", (_Stand,), {}),
}


def _plain(value: Any, key: str, name: str) -> np.ndarray:
    if isinstance(value, _Stand):
        state = value.state
        if "x" in state:
            return np.asarray(state["x"], np.float64)
        if {"data", "indices", "indptr"} <= set(state):
            rows, cols = state.get("_shape", state.get("shape"))
            dense = np.zeros((rows, cols), np.float64)
            indptr = np.asarray(state["indptr"])
            for col in range(cols):
                lo, hi = indptr[col], indptr[col + 1]
                dense[np.asarray(state["indices"])[lo:hi], col] = np.asarray(state["data"])[lo:hi]
            return dense
        raise InputError(f"{name}: '{key}' is stored in a form this reader does not know.")
    try:
        return np.asarray(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: '{key}' is not an array.") from None


def load_body_model(path: str | Path) -> BodyModel:
    """Read an SMPL body model (.pkl as distributed, or .npz) without chumpy or scipy."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SMPL model file {path} does not exist; set the path to your SMPL_NEUTRAL.pkl or .npz.")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                raw = {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise InputError(f"{path.name} is not a readable SMPL .npz ({exc}).") from None
    else:
        try:
            raw = AllowlistUnpickler(io.BytesIO(path.read_bytes()), path.name, _STANDINS).load()
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
            raise InputError(f"{path.name} is not a readable SMPL model pickle ({exc}).") from None
        if not isinstance(raw, dict):
            raise InputError(f"{path.name} does not hold an SMPL model dict.")
    missing = [k for k in MODEL_KEYS if k not in raw]
    if missing:
        raise InputError(f"{path.name} is not an SMPL body model: missing {missing}.")
    arrays = {k: _plain(raw[k], k, path.name) for k in MODEL_KEYS}
    v = arrays["v_template"].astype(np.float64)
    count = len(v)
    kintree = arrays["kintree_table"].astype(np.int64)
    checks = [
        (v.ndim == 2 and v.shape[1] == 3, "v_template must be [V, 3]"),
        (arrays["shapedirs"].ndim == 3 and arrays["shapedirs"].shape[:2] == (count, 3), "shapedirs must be [V, 3, B]"),
        (arrays["J_regressor"].shape == (24, count), "J_regressor must be [24, V] (SMPL, 24 joints)"),
        (arrays["weights"].shape == (count, 24), "weights must be [V, 24]"),
        (kintree.shape == (2, 24) and tuple(kintree[0, 1:]) == SMPL_PARENTS[1:], "kintree_table must be SMPL's"),
        (arrays["f"].ndim == 2 and arrays["f"].shape[1] == 3 and arrays["f"].max(initial=0) < count, "f must be [F, 3] vertex indices"),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(f"{path.name}: {message}; this is not an SMPL model file.")
    posedirs = None
    if "posedirs" in raw:
        posedirs = _plain(raw["posedirs"], "posedirs", path.name).astype(np.float64)
        if posedirs.shape != (count, 3, 207):
            raise InputError(f"{path.name}: posedirs must be [V, 3, 207]; this is not an SMPL model file.")
    return BodyModel(
        v_template=v,
        shapedirs=arrays["shapedirs"].astype(np.float64),
        j_regressor=arrays["J_regressor"].astype(np.float64),
        weights=arrays["weights"].astype(np.float64),
        faces=arrays["f"].astype(np.uint32),
        posedirs=posedirs,
    )


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] of axis-angle vectors [..., 3] (smplx's formula, same epsilon)."""
    v = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(v + 1e-8, axis=-1, keepdims=True)
    axis = v / angle
    cos, sin = np.cos(angle)[..., None], np.sin(angle)[..., None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*v.shape[:-1], 3, 3)
    return np.eye(3) + sin * k + (1 - cos) * (k @ k)


def forward_kinematics(rest_joints: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """World transforms [T, 24, 4, 4] of the SMPL joints for local rotations [T, 24, 3, 3]."""
    frames = rotations.shape[0]
    local = np.zeros((frames, 24, 4, 4))
    local[:, :, :3, :3] = rotations
    local[:, :, 3, 3] = 1.0
    offsets = rest_joints.copy()
    offsets[1:] -= rest_joints[list(SMPL_PARENTS[1:])]
    local[:, :, :3, 3] = offsets
    world = np.zeros_like(local)
    world[:, 0] = local[:, 0]
    for joint in range(1, 24):
        world[:, joint] = world[:, SMPL_PARENTS[joint]] @ local[:, joint]
    return world


def smpl_forward(body: BodyModel | None, pose: np.ndarray, betas: np.ndarray | None, trans: np.ndarray,
                 mesh: bool = False, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Posed SMPL joints [T, 24, 3] and, when ``mesh``, vertices [T, V, 3] (metres, the model's
    frame) for axis-angle ``pose`` [T, 72], ``betas`` [B] and ``trans`` [T, 3]; ``subset``
    (vertex indices) skins only those vertices (for fitting).

    The same linear blend skinning as the smplx package (pose blend shapes included when the
    model has them). Without a body model the joints come from the approximate neutral rest
    skeleton ``REST_JOINTS`` (betas ignored) and there is no mesh.
    """
    pose = np.asarray(pose, np.float64).reshape(-1, 24, 3)
    trans = np.asarray(trans, np.float64).reshape(-1, 3)
    rotations = rodrigues(pose)
    if body is None:
        if mesh:
            raise InputError("a mesh needs your SMPL model file (SMPL_NEUTRAL.pkl or .npz)")
        world = forward_kinematics(REST_JOINTS, rotations)
        return world[:, :, :3, 3] + trans[:, None], None
    verts, rest_joints = body.rest(betas)
    world = forward_kinematics(rest_joints, rotations)
    joints = world[:, :, :3, 3] + trans[:, None]
    if not mesh:
        return joints, None
    pick = slice(None) if subset is None else subset
    verts = verts[pick]
    posed = np.broadcast_to(verts, (len(pose), *verts.shape)).copy()
    if body.posedirs is not None:
        feature = (rotations[:, 1:] - np.eye(3)).reshape(len(pose), -1)
        posed += np.einsum("vcp,tp->tvc", body.posedirs[pick], feature)
    skin = world.copy()
    skin[:, :, :3, 3] -= np.einsum("tjab,jb->tja", world[:, :, :3, :3], rest_joints)
    per_vertex = np.einsum("vj,tjab->tvab", body.weights[pick], skin)
    vertices = np.einsum("tvab,tvb->tva", per_vertex[:, :, :3, :3], posed) + per_vertex[:, :, :3, 3]
    return joints, vertices + trans[:, None]
