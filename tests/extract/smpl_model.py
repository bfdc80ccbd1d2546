"""A synthetic SMPL body model in the official pickle layout (the real one is licensed).

Same keys, shapes and conventions as ``SMPL_NEUTRAL.pkl`` (6890 vertices, so smplx's extra
vertex joints index into it): vertices cluster around the joints of the approximate rest
skeleton, each joint regressed from its cluster, skinned to its joint and its parent.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from scail_blender.motion.smpl import REST_JOINTS, SMPL_PARENTS

VERTICES = 6890


def write_smpl_model(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    owner = np.arange(VERTICES) % 24
    v_template = REST_JOINTS[owner] + rng.normal(0, 0.03, (VERTICES, 3))
    regressor = np.zeros((24, VERTICES))
    regressor[owner, np.arange(VERTICES)] = 1.0
    regressor /= regressor.sum(axis=1, keepdims=True)
    weights = np.zeros((VERTICES, 24))
    weights[np.arange(VERTICES), owner] = 0.7
    parents = np.array([max(SMPL_PARENTS[j], 0) for j in owner])
    weights[np.arange(VERTICES), parents] += 0.3
    kintree = np.array([[2**32 - 1, *SMPL_PARENTS[1:]], list(range(24))], np.int64)
    model = {
        "v_template": v_template,
        "shapedirs": rng.normal(0, 0.01, (VERTICES, 3, 10)),
        "posedirs": rng.normal(0, 0.002, (VERTICES, 3, 207)),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, VERTICES, (13776, 3)).astype(np.uint32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(model, protocol=2))
    return path


SMPLX_VERTICES = 10475


def smplx_parents() -> list[int]:
    """SMPL-X's 55 joints: the 22 body joints as SMPL, jaw and eyes on the head, 15 finger joints
    per hand (three per finger) on each wrist."""
    parents = list(SMPL_PARENTS[:22]) + [15, 15, 15]
    for wrist, start in ((20, 25), (21, 40)):
        for finger in range(5):
            base = start + 3 * finger
            parents += [wrist, base, base + 1]
    return parents


def write_smplx_model(path: Path, seed: int = 0) -> Path:
    """A synthetic SMPL-X model in the official .npz layout (10 shape, 10 expression directions)."""
    rng = np.random.default_rng(seed)
    parents = smplx_parents()
    rest = np.zeros((55, 3))
    rest[:22] = REST_JOINTS[:22]
    rest[22:25] = REST_JOINTS[15] + [[0, -0.05, 0.05], [0.03, 0.03, 0.08], [-0.03, 0.03, 0.08]]
    for j in range(25, 55):
        rest[j] = rest[parents[j]] + [0.03 * (1 if j < 40 else -1), -0.005 * ((j - 25) % 15 // 3), 0.0]
    owner = np.arange(SMPLX_VERTICES) % 55
    regressor = np.zeros((55, SMPLX_VERTICES))
    regressor[owner, np.arange(SMPLX_VERTICES)] = 1.0
    regressor /= regressor.sum(axis=1, keepdims=True)
    weights = np.zeros((SMPLX_VERTICES, 55))
    weights[np.arange(SMPLX_VERTICES), owner] = 0.8
    weights[np.arange(SMPLX_VERTICES), [max(parents[j], 0) for j in owner]] += 0.2
    np.savez(path, v_template=rest[owner] + rng.normal(0, 0.01, (SMPLX_VERTICES, 3)),
             shapedirs=rng.normal(0, 0.005, (SMPLX_VERTICES, 3, 20)),
             posedirs=rng.normal(0, 0.001, (SMPLX_VERTICES, 3, 54 * 9)), J_regressor=regressor, weights=weights,
             kintree_table=np.array([[2**32 - 1, *parents[1:]], list(range(55))], np.int64),
             f=rng.integers(0, SMPLX_VERTICES, (20908, 3)).astype(np.int64),
             hands_componentsl=np.eye(45), hands_componentsr=np.eye(45), hands_meanl=np.zeros(45),
             hands_meanr=np.zeros(45), lmk_faces_idx=np.arange(51, dtype=np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3))
    return path
