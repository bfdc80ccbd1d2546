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
