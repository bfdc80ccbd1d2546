"""SMPL-family parameters in: the numpy SMPL skinning equals the smplx package, AMASS npz files
are read by their keys into camera-space Motion whose kept parameters rebuild the same joints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.motion import read_motion
from scail_blender.motion.smpl import load_body_model, smpl_forward
from scail_blender.motion.smpl_params import Z_UP_TO_CAMERA

from .smpl_model import write_smpl_model, write_smplx_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_smpl_model(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.pkl")


def _params(frames: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.4, (frames, 72)), rng.normal(0, 1, 10), rng.normal(0, 0.5, (frames, 3))


def test_numpy_smpl_equals_smplx(model_file: Path) -> None:
    smplx = pytest.importorskip("smplx")
    torch = pytest.importorskip("torch")
    pose, betas, trans = _params()
    ours_joints, ours_verts = smpl_forward(load_body_model(model_file), pose, betas, trans, mesh=True)
    layer = smplx.SMPL(str(model_file), num_betas=10, batch_size=len(pose))
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        out = layer(global_orient=t(pose[:, :3]), body_pose=t(pose[:, 3:]), betas=t(np.tile(betas, (len(pose), 1))),
                    transl=t(trans))
    np.testing.assert_allclose(ours_joints, out.joints[:, :24].numpy(), atol=2e-5)
    np.testing.assert_allclose(ours_verts, out.vertices.numpy(), atol=2e-5)


def _amass(path: Path, poses: np.ndarray, betas: np.ndarray, trans: np.ndarray) -> Path:
    np.savez(path, poses=poses, trans=trans, betas=np.r_[betas, np.zeros(6)], gender=np.array("neutral"),
             mocap_frame_rate=np.array(60.0), dmpls=np.zeros((len(poses), 8)))
    return path


def test_amass_npz_to_camera_motion(model_file: Path, tmp_path: Path) -> None:
    pose, betas, trans = _params()
    hands = np.random.default_rng(2).normal(0, 0.3, (len(pose), 90))
    poses156 = np.concatenate([pose[:, :66], hands], axis=1)
    loaded = read_motion(_amass(tmp_path / "walk_poses.npz", poses156, betas, trans), body_model=model_file)
    motion = loaded.motion
    assert loaded.kind == "SMPL parameters (npz)" and motion.fps == 60.0 and motion.people == 1
    assert any("SMPL+H" in n and "finger" in n for n in loaded.notes)
    body = load_body_model(model_file)
    world, _ = smpl_forward(body, np.concatenate([pose[:, :66], np.zeros((len(pose), 6))], axis=1), betas[:10], trans)
    camera = world @ Z_UP_TO_CAMERA.T * 1000.0
    offset = motion.joints[0, 0, 0] - camera[0, 0]
    np.testing.assert_allclose(motion.joints[:, 0], camera + offset, atol=0.05)
    assert motion.joints[..., 2].min() > 1000  # in front of the camera
    # the kept parameters, in the camera's frame, rebuild the same joints
    kept = motion.smpl
    assert kept.pose.shape == (len(pose), 1, 72)
    rebuilt, _ = smpl_forward(body, kept.pose[:, 0], kept.betas[0, 0, :10], kept.trans[:, 0])
    np.testing.assert_allclose(rebuilt * 1000.0, motion.joints[:, 0], atol=0.1)


def test_amass_without_a_model_uses_the_rest_skeleton(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCAIL_SMPL_MODELS", raising=False)
    pose, betas, trans = _params()
    loaded = read_motion(_amass(tmp_path / "a.npz", pose, betas, trans))
    assert any("approximate neutral skeleton" in n for n in loaded.notes)
    rebuilt, _ = smpl_forward(None, loaded.motion.smpl.pose[:, 0], None, loaded.motion.smpl.trans[:, 0])
    np.testing.assert_allclose(rebuilt * 1000.0, loaded.motion.joints[:, 0], atol=0.1)


def test_part_layout_and_errors(model_file: Path, tmp_path: Path) -> None:
    pose, betas, trans = _params()
    path = tmp_path / "fit.npz"
    np.savez(path, global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas[None], transl=trans)
    motion = read_motion(path, body_model=model_file.parent, fps=24).motion
    assert motion.fps == 24 and motion.smpl.pose.shape[-1] == 72
    np.savez(path, poses=np.zeros((3, 50)), trans=np.zeros((3, 3)))
    with pytest.raises(Exception, match="72 \\(SMPL\\), 156"):
        read_motion(path)
    np.savez(path, global_orient=np.zeros((2, 3)), body_pose=np.zeros((2, 63)))
    with pytest.raises(Exception, match="No SMPLX model"):
        read_motion(path, body_model=tmp_path)


def test_smplx_parameters_through_smplx(tmp_path: Path) -> None:
    smplx = pytest.importorskip("smplx")
    torch = pytest.importorskip("torch")
    model = write_smplx_model(tmp_path / "SMPLX_NEUTRAL.npz")
    rng = np.random.default_rng(7)
    frames = 3
    poses = rng.normal(0, 0.3, (frames, 165))
    trans = rng.normal(0, 0.3, (frames, 3))
    betas = rng.normal(0, 1, 10)
    path = tmp_path / "dance_stageii.npz"
    np.savez(path, poses=poses, trans=trans, betas=betas, gender=np.array("neutral"), mocap_frame_rate=np.array(30.0),
             surface_model_type=np.array("smplx"))
    loaded = read_motion(path, body_model=tmp_path)
    motion = loaded.motion
    assert motion.smpl.pose.shape == (frames, 1, 165)
    layer = smplx.SMPLX(str(model), use_pca=False, flat_hand_mean=True, num_betas=10, use_face_contour=False, ext="npz")

    def joints(pose: np.ndarray, shift: np.ndarray) -> np.ndarray:
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
        with torch.no_grad():
            out = layer(global_orient=t(pose[:, :3]), body_pose=t(pose[:, 3:66]), jaw_pose=t(pose[:, 66:69]),
                        leye_pose=t(pose[:, 69:72]), reye_pose=t(pose[:, 72:75]), left_hand_pose=t(pose[:, 75:120]),
                        right_hand_pose=t(pose[:, 120:]), betas=t(np.tile(betas, (len(pose), 1))), transl=t(shift),
                        expression=torch.zeros(len(pose), 10))
        return out.joints.numpy()[:, [*range(22), 25, 40]]

    world = joints(poses, trans) @ Z_UP_TO_CAMERA.T * 1000.0
    np.testing.assert_allclose(motion.joints[:, 0] - motion.joints[:1, 0, :1], world - world[:1, :1], atol=0.05)
    rebuilt = joints(motion.smpl.pose[:, 0], motion.smpl.trans[:, 0]) * 1000.0
    np.testing.assert_allclose(rebuilt, motion.joints[:, 0], atol=0.1)


def test_meshes_on_request(model_file: Path) -> None:
    from scail_blender.motion.smpl_params import body_sequence

    pose, betas, trans = _params(frames=2)
    body = load_body_model(model_file)
    joints, verts = body_sequence({"poses": pose, "trans": trans, "betas": betas}, body)
    want_joints, want_verts = smpl_forward(body, pose, betas, trans, mesh=True)
    np.testing.assert_allclose(verts, want_verts)
    np.testing.assert_allclose(joints, want_joints)
