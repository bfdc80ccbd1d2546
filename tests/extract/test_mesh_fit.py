"""NLF-style mesh sequences in: joints from the J_regressor, SMPL parameters fitted by the
least-squares inverse skinning reproduce the generating joints and vertices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.motion import read_motion
from scail_blender.motion.mesh_fit import fit_meshes
from scail_blender.motion.smpl import load_body_model, smpl_forward

from .smpl_model import write_smpl_model


@pytest.fixture(scope="module")
def body_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_smpl_model(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.pkl", seed=3)


def _meshes(body, frames: int = 3, seed: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    pose = rng.normal(0, 0.35, (frames, 72))
    betas = rng.normal(0, 1.0, 10)
    trans = rng.normal(0, 0.3, (frames, 3)) + [0, 0, 3.0]
    joints, verts = smpl_forward(body, pose, betas, trans, mesh=True)
    return pose, betas, trans, joints, verts


def test_fit_reproduces_generating_parameters(body_file: Path) -> None:
    body = load_body_model(body_file)
    pose, betas, trans, joints, verts = _meshes(body)
    fit = fit_meshes(body, verts)
    fitted_joints, fitted_verts = smpl_forward(body, fit.pose, fit.betas, fit.trans, mesh=True)
    assert fit.rms_m < 1e-4
    np.testing.assert_allclose(fitted_verts, verts, atol=1e-3)
    np.testing.assert_allclose(fitted_joints, joints, atol=1e-3)
    np.testing.assert_allclose(fit.betas, betas, atol=0.05)
    np.testing.assert_allclose(fit.trans, trans, atol=1e-3)


def test_nlf_mesh_file_to_motion(body_file: Path, tmp_path: Path) -> None:
    body = load_body_model(body_file)
    _, _, _, _, verts = _meshes(body, frames=2, seed=5)
    path = tmp_path / "nlf_meshes.npz"
    np.savez(path, vertices3d=(verts * 1000.0)[:, None].astype(np.float32))
    loaded = read_motion(path, body_model=body_file)
    motion = loaded.motion
    assert loaded.kind == "NLF meshes (npz)" and motion.people == 1
    regressed = np.einsum("jv,tvc->tjc", body.j_regressor, verts * 1000.0)
    np.testing.assert_allclose(motion.joints[:, 0], regressed, atol=0.05)
    _, refit = smpl_forward(body, motion.smpl.pose[:, 0], motion.smpl.betas[0, 0], motion.smpl.trans[:, 0], mesh=True)
    assert np.sqrt(np.mean(np.sum((refit - verts) ** 2, axis=-1))) < 1e-3
    with pytest.raises(InputError, match="SMPL model"):
        read_motion(path)
