"""Motion files in and out: our GLB and npz, NLF results, the ComfyUI-SCAIL-Pose GLB, bad input."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.motion import load_motion, read_motion, save_motion
from scail_blender.motion.comfy_glb import DRAWN
from scail_blender.motion.model import Motion
from scail_blender.motion.smpl import find_body_model, load_body_model
from scail_blender.pose.camera import Intrinsics

from tests.support.motion_fixtures import comfy_pose_glb, synthetic_smpl_model, walking

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tools" / "gltf_validator"


def gltf_errors(path: Path) -> dict:
    if not (VALIDATOR / "node_modules" / "gltf-validator").is_dir() or shutil.which("node") is None:
        pytest.skip("Khronos glTF-Validator not installed (make gltf-validator needs npm)")
    proc = subprocess.run(["node", str(VALIDATOR / "validate.js"), str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def test_glb_round_trip_keeps_joints_camera_timing_and_absence(tmp_path: Path) -> None:
    motion = walking(frames=10, people=2)
    motion.joints[3:5, 1] = 0.0  # the second dancer leaves for two frames
    save_motion(motion, tmp_path / "m.glb")
    loaded = read_motion(tmp_path / "m.glb")
    back = loaded.motion
    assert loaded.kind == "scail-blender GLB"
    np.testing.assert_allclose(back.joints, motion.joints, atol=0.05)
    assert back.intrinsics == motion.intrinsics and back.image_size == (480, 640)
    assert back.fps == 16.0 and back.person_ids == ["dancer_0", "dancer_1"]
    assert not back.present()[3:5, 1].any() and back.present()[5:, 1].all()


def test_glb_is_valid_gltf_with_a_skin_per_person(tmp_path: Path) -> None:
    save_motion(walking(frames=6, people=2), tmp_path / "m.glb")
    report = gltf_errors(tmp_path / "m.glb")
    assert report["numErrors"] == 0, report["messages"]
    assert report["numWarnings"] == 0, report["messages"]


def test_npz_round_trip(tmp_path: Path) -> None:
    motion = walking(frames=4)
    save_motion(motion, tmp_path / "m.npz")
    back = load_motion(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.joints, motion.joints)
    assert back.intrinsics == motion.intrinsics


def ragged_detections(motion: Motion, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-frame detections in shuffled order, the absent people left out; and SMPL 'trans'."""
    rng = np.random.default_rng(seed)
    frames, trans = [], []
    for t in range(motion.frames):
        people = [p for p in range(motion.people) if motion.present()[t, p]]
        rng.shuffle(people)
        frames.append(motion.joints[t, people].reshape(len(people), 24, 3))
        trans.append(np.array([[p, t, 0.0] for p in people], np.float32).reshape(len(people), 3))
    return frames, trans


def assert_same_people(back: Motion, motion: Motion) -> None:
    """Same motion up to a consistent renumbering of people."""
    for p in range(back.people):
        first = np.flatnonzero(back.present()[:, p])[0]
        q = int(np.argmin([np.abs(back.joints[first, p] - motion.joints[first, r]).max() for r in range(motion.people)]))
        np.testing.assert_allclose(back.joints[:, p], motion.joints[:, q], atol=1e-3)


def test_ragged_multi_person_nlf_keeps_identity_in_every_container(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    motion = walking(frames=8, people=3)
    motion.joints[2:4, 0] = 0.0
    motion.joints[6, :] = 0.0  # a frame with nobody in it
    frames, trans = ragged_detections(motion)
    result = {"joints3d_nonparam": frames, "trans": trans,
              "pose": [np.zeros((len(f), 72), np.float32) for f in frames],
              "betas": [np.ones((len(f), 10), np.float32) for f in frames]}
    with open(tmp_path / "nlf.pkl", "wb") as handle:
        pickle.dump(result, handle)
    torch.save({"joints3d_nonparam": [[torch.from_numpy(f) for f in frames]]}, tmp_path / "comfy.pt")
    np.savez(tmp_path / "nlf.npz", joints3d_nonparam=np.array(frames + [None], dtype=object)[:-1])
    for name in ("nlf.pkl", "comfy.pt", "nlf.npz"):
        back = read_motion(tmp_path / name).motion
        assert back.people == 3 and back.frames == 8, name
        assert_same_people(back, motion)
    back = load_motion(tmp_path / "nlf.pkl")
    for p in range(3):
        ids = back.smpl.trans[back.present()[:, p], p, 0]
        assert len(set(ids.tolist())) == 1  # one original person per track


def test_scail_pose_batch_pickle_keeps_box_order_and_video_size(tmp_path: Path) -> None:
    motion = walking(frames=3, people=2)
    frames = [{"video_height": 720, "video_width": 1280, "bboxes": [[0, 0, 1, 1]] * 2,
               "nlfpose": [motion.joints[t, 0][None], motion.joints[t, 1][None] if t != 1 else np.zeros((0, 24, 3))]}
              for t in range(3)]
    with open(tmp_path / "clip.pkl", "wb") as handle:
        pickle.dump(frames, handle)
    loaded = read_motion(tmp_path / "clip.pkl")
    assert loaded.motion.image_size == (720, 1280)
    assert loaded.motion.intrinsics == Intrinsics.default(720, 1280)
    np.testing.assert_array_equal(loaded.motion.joints[:, 0], motion.joints[:, 0])
    assert not loaded.motion.present()[1, 1]


def test_comfy_glb_recovers_joints_up_to_the_unknown_offset(tmp_path: Path) -> None:
    motion = walking(frames=9, people=2)
    (tmp_path / "pose.glb").write_bytes(comfy_pose_glb(motion.joints, fps=24.0))
    loaded = read_motion(tmp_path / "pose.glb")
    back = loaded.motion
    assert loaded.kind == "ComfyUI-SCAIL-Pose GLB" and back.fps == 24.0 and back.people == 2
    assert any("does not store where the clip was" in n for n in loaded.notes)
    offset = back.joints[:, :, DRAWN] - motion.joints[:, :, DRAWN]
    # One constant offset for every drawn joint of everybody in every frame.
    np.testing.assert_allclose(offset, np.broadcast_to(offset[0, 0, 0], offset.shape), atol=0.5)
    assert back.joints[..., 2].min() > 0  # placed in front of the camera


def test_comfy_glb_position_is_exact_when_a_limb_went_missing(tmp_path: Path) -> None:
    motion = walking(frames=6, people=2)
    motion.joints[4, 0] = 0.0
    (tmp_path / "pose.glb").write_bytes(comfy_pose_glb(motion.joints))
    loaded = read_motion(tmp_path / "pose.glb")
    assert any("recovered exactly" in n for n in loaded.notes)
    present = loaded.motion.present()
    assert not present[4, 0] and present[4, 1]
    np.testing.assert_allclose(loaded.motion.joints[:, :, DRAWN][present], motion.joints[:, :, DRAWN][present], atol=0.5)


def test_smpl_body_model_mesh_from_npz_and_official_pickle(tmp_path: Path) -> None:
    model = synthetic_smpl_model()
    regressor = model["J_regressor"]
    np.savez(tmp_path / "SMPL_TEST.npz", **model)

    # The distributed .pkl stores shapedirs as a chumpy array and J_regressor as a scipy matrix;
    # stand-in classes are pickled and renamed so neither package is needed to write the file.
    shapedirs, sparse = Ch(), csc_matrix()
    shapedirs.__dict__ = {"x": model["shapedirs"]}
    cols = regressor.T
    sparse.__dict__ = {"data": cols[cols != 0], "indices": np.nonzero(cols)[1],
                       "indptr": np.concatenate([[0], np.cumsum((cols != 0).sum(1))]), "_shape": regressor.shape}
    data = pickle.dumps({**model, "shapedirs": shapedirs, "J_regressor": sparse}, protocol=2)
    data = data.replace(f"{__name__}\nCh\n".encode(), b"chumpy.ch\nCh\n")
    data = data.replace(f"{__name__}\ncsc_matrix\n".encode(), b"scipy.sparse._csc\ncsc_matrix\n")
    assert b"chumpy.ch" in data and b"scipy.sparse._csc" in data
    (tmp_path / "SMPL_TEST.pkl").write_bytes(data)

    from_npz, from_pkl = load_body_model(tmp_path / "SMPL_TEST.npz"), load_body_model(tmp_path / "SMPL_TEST.pkl")
    np.testing.assert_allclose(from_pkl.j_regressor, from_npz.j_regressor)
    np.testing.assert_allclose(from_pkl.shapedirs, from_npz.shapedirs)
    motion = walking(frames=5)
    save_motion(motion, tmp_path / "smpl.glb", body=from_pkl)
    np.testing.assert_allclose(load_motion(tmp_path / "smpl.glb").joints, motion.joints, atol=0.05)
    report = gltf_errors(tmp_path / "smpl.glb")
    assert report["numErrors"] == 0, report["messages"]


def test_the_neutral_model_is_found_in_a_model_folder(tmp_path: Path) -> None:
    assert find_body_model(tmp_path) is None
    (tmp_path / "smpl").mkdir()
    (tmp_path / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(b"model")
    assert find_body_model(tmp_path) == tmp_path / "smpl" / "SMPL_NEUTRAL.pkl"
    (tmp_path / "SMPL_NEUTRAL.npz").write_bytes(b"model")
    assert find_body_model(tmp_path) == tmp_path / "SMPL_NEUTRAL.npz"


class Ch:
    """Pickled under chumpy's name by the SMPL test."""


class csc_matrix:  # noqa: N801 - pickled under scipy's class name
    """Pickled under scipy's name by the SMPL test."""


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/scail-pwned",))


@pytest.mark.parametrize("case", ["truncated_glb", "foreign_glb", "not_glb", "wrong_shape", "nan", "nobody",
                                  "mismatched", "exploit", "unknown_key", "bad_suffix"])
def test_bad_input_is_refused_with_a_named_problem(tmp_path: Path, case: str) -> None:
    good = tmp_path / "good.glb"
    save_motion(walking(frames=3), good)
    if case == "truncated_glb":
        path, expect = tmp_path / "cut.glb", "truncated"
        path.write_bytes(good.read_bytes()[:-100])
    elif case == "foreign_glb":
        from scail_blender.motion.gltf import GlbBuilder
        path, expect = tmp_path / "other.glb", "neither"
        path.write_bytes(GlbBuilder(doc={"asset": {"version": "2.0", "generator": "Khronos glTF Blender I/O"},
                                         "nodes": [{"name": "Cube"}]}).to_bytes())
    elif case == "not_glb":
        path, expect = tmp_path / "text.glb", "does not start with 'glTF'"
        path.write_text("hello")
    elif case == "wrong_shape":
        path, expect = tmp_path / "shape.pkl", "expected [people, 24, 3]"
        pickle.dump({"joints3d_nonparam": [np.zeros((1, 17, 3))]}, path.open("wb"))
    elif case == "nan":
        path, expect = tmp_path / "nan.pkl", "NaN"
        joints = walking(frames=2).joints[:, 0].copy()
        joints[1, 3, 0] = np.nan
        pickle.dump({"joints3d_nonparam": list(joints[:, None])}, path.open("wb"))
    elif case == "nobody":
        path, expect = tmp_path / "empty.pkl", "no person"
        pickle.dump({"joints3d_nonparam": [np.zeros((0, 24, 3))] * 3}, path.open("wb"))
    elif case == "mismatched":
        path, expect = tmp_path / "mis.pkl", "inconsistent"
        joints = list(walking(frames=3).joints)
        pickle.dump({"joints3d_nonparam": joints, "pose": [np.zeros((1, 72))] * 2,
                     "betas": [np.zeros((1, 10))] * 3, "trans": [np.zeros((1, 3))] * 3}, path.open("wb"))
    elif case == "exploit":
        path, expect = tmp_path / "evil.pkl", "posix.system"
        if Path("/tmp/scail-pwned").exists():
            os.remove("/tmp/scail-pwned")
        pickle.dump({"joints3d_nonparam": Exploit()}, path.open("wb"))
    elif case == "unknown_key":
        path, expect = tmp_path / "keys.pkl", "without NLF joints"
        pickle.dump({"keypoints": [1, 2]}, path.open("wb"))
    else:
        path, expect = tmp_path / "motion.bvh", "unknown motion format"
        path.write_text("HIERARCHY")
    with pytest.raises(InputError, match=expect.replace("[", r"\[").replace("]", r"\]")):
        read_motion(path)
    assert not Path("/tmp/scail-pwned").exists()
