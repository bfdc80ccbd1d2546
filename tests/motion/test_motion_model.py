"""Motion values: validation, npz round trip without pickles, retiming at real speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.motion.model import Motion, SmplParams, load_motion_npz, save_motion_npz
from scail_blender.motion.retime import retime, retimed_length
from scail_blender.pose.camera import Intrinsics


def straight_line_motion(frames: int = 10, people: int = 2) -> Motion:
    """Every joint moves 10 mm in x per frame: interpolation errors are easy to see."""
    joints = np.zeros((frames, people, 24, 3), np.float32)
    joints[..., 2] = 3000.0
    joints[..., 0] = np.arange(frames, dtype=np.float32)[:, None, None] * 10.0
    joints[:, 1, :, 1] = 100.0
    return Motion(joints=joints, fps=30.0)


def test_npz_round_trip_keeps_everything(tmp_path: Path) -> None:
    base = straight_line_motion(4)
    motion = Motion(
        joints=base.joints, fps=24.0, intrinsics=Intrinsics(800.0, 810.0, 448.0, 256.0), image_size=(512, 896),
        hands=np.ones((4, 2, 2, 21, 3), np.float32), head_marks=np.full((4, 2, 5, 3), 2.0, np.float32),
        person_ids=["alice", "bob"],
        smpl=SmplParams(np.zeros((4, 2, 72)), np.zeros((4, 2, 10)), np.zeros((4, 2, 3))), source="test",
    )
    path = tmp_path / "m.npz"
    save_motion_npz(motion, path)
    back = load_motion_npz(path)
    np.testing.assert_array_equal(back.joints, motion.joints)
    np.testing.assert_array_equal(back.hands, motion.hands)
    np.testing.assert_array_equal(back.head_marks, motion.head_marks)
    assert back.intrinsics == motion.intrinsics and back.image_size == (512, 896) and back.fps == 24.0
    assert back.person_ids == ["alice", "bob"] and back.source == "test"
    assert back.smpl is not None and back.smpl.pose.shape == (4, 2, 72)
    with np.load(path, allow_pickle=False) as data:
        assert data["joints3d_nonparam"].shape == (4, 2, 24, 3)


def test_minimal_nlf_file_reads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "nlf.npz"
    np.savez(path, joints3d_nonparam=np.ones((3, 1, 24, 3)))
    motion = load_motion_npz(path)
    assert motion.fps == 16.0 and motion.intrinsics is None and motion.people == 1
    assert motion.intrinsics_or_default((512, 896)) == Intrinsics.default(512, 896)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"joints3d_nonparam": np.ones((3, 1, 17, 3))}, r"shape \[3, 1, 17, 3\]; expected \[T, P, 24, 3\]"),
        ({"joints3d_nonparam": np.ones((3, 24, 3))}, "expected"),
        ({"poses": np.ones((3, 1, 24, 3))}, "unknown keys"),
        ({"joints3d_nonparam": np.ones((3, 1, 24, 3)), "fps": np.array([1.0, 2.0])}, "single number"),
        ({"joints3d_nonparam": np.ones((3, 1, 24, 3)), "fps": np.array(-4.0)}, "positive"),
        ({"joints3d_nonparam": np.ones((3, 1, 24, 3)), "intrinsics": np.diag([0.0, 0.0, 1.0])}, "positive focal"),
        ({"joints3d_nonparam": np.ones((3, 1, 24, 3)), "hands3d": np.ones((2, 1, 2, 21, 3))}, "hands3d"),
        ({"joints3d_nonparam": np.ones((0, 1, 24, 3))}, "at least one"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=message):
        load_motion_npz(path)


def test_pickles_and_garbage_are_refused(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, joints3d_nonparam=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(InputError, match="pickled objects"):
        load_motion_npz(pickled)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="not a readable npz"):
        load_motion_npz(garbage)
    with pytest.raises(InputError, match="does not exist"):
        load_motion_npz(tmp_path / "missing.npz")


def test_retime_keeps_real_speed() -> None:
    motion = straight_line_motion(31)  # one second at 30 fps: x goes 0 -> 300 mm
    slow = retime(motion, 16.0)
    assert slow.frames == retimed_length(31, 30.0, 16.0) == 17 and slow.fps == 16.0
    expected_x = np.arange(17) * (30.0 / 16.0) * 10.0
    np.testing.assert_allclose(slow.joints[:, 0, 0, 0], expected_x, atol=1e-3)
    assert retime(motion, 30.0) is motion


def test_retime_never_blends_with_a_missing_person() -> None:
    motion = straight_line_motion(10)
    motion.joints[5, 1] = 0.0  # person 1 absent in frame 5
    slow = retime(motion, 12.0)  # output frames fall at source positions 0, 2.5, 5, 7.5
    assert np.all(slow.joints[2, 1] == 0.0)  # exactly at the gap: still absent
    np.testing.assert_allclose(slow.joints[1, 1, 0, 0], 25.0)  # between 2 and 3: blended
    np.testing.assert_allclose(slow.joints[3, 1, 0, 0], 75.0)
    assert np.all(slow.joints[:, 1, :, 1][slow.joints[:, 1, :, 2] != 0] == 100.0)
