"""The extraction's DWPose 2D keypoints as MultiAnimate's driving source (issue 23): kept in the
Motion and its npz, validated on load, and drawn by ``render-pose --dwpose-source detected`` with
box masks, reframed as render-pose reframes the camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.cli import main
from scail_blender.errors import InputError
from scail_blender.extract.testing import LAYOUT
from scail_blender.media import video
from scail_blender.motion import read_motion
from scail_blender.motion.model import Motion, load_motion_npz, save_motion_npz
from scail_blender.motion.retime import retime

from ..cli.test_cli_render_pose import STANDING

SIZE = (256, 448)
# Rectangles (x1, y1, x2, y2) the two people's keypoints are laid out in (LAYOUT's fractions):
# far from where their 3D joints project (x about 138 and 310), so a reprojected drawing misses them.
LEFT_RECT, RIGHT_RECT = (20, 30, 120, 230), (330, 40, 430, 240)
SHOULDER, ELBOW, WRIST = 6, 8, 10                        # COCO right shoulder, elbow, wrist
UPPER_ARM = (0, 102, 153)  # OpenPose limb 2 (255, 170, 0) dimmed by 0.6, red and blue exchanged (dwpose_draw.py)
FOREARM = (0, 153, 153)                                  # OpenPose limb 3 (255, 255, 0) dimmed by 0.6
RIGHT_HAND = slice(112, 133)


def point(rect: tuple[int, int, int, int], k: int) -> np.ndarray:
    x1, y1, x2, y2 = rect
    return np.array([x1 + (x2 - x1) * LAYOUT[k, 0], y1 + (y2 - y1) * LAYOUT[k, 1]])


def detected_motion(frames: int = 2, rects: tuple = (LEFT_RECT, RIGHT_RECT)) -> Motion:
    """Two people; the left one's right wrist and right hand score 0.1 (below DWPose's 0.3)."""
    joints = np.repeat(STANDING[None, None], frames, axis=0).repeat(2, axis=1)
    joints[:, 0, :, 0] -= 600
    joints[:, 1, :, 0] += 600
    keypoints = np.zeros((frames, 2, 133, 3), np.float32)
    for person, rect in enumerate(rects):
        keypoints[:, person, :, :2] = [point(rect, k) for k in range(133)]
        keypoints[:, person, :, 2] = 0.9
    keypoints[:, 0, WRIST, 2] = 0.1
    keypoints[:, 0, RIGHT_HAND, 2] = 0.1
    return Motion(joints=joints, fps=8.0, image_size=SIZE, keypoints2d=keypoints)


def pixel(image: np.ndarray, xy: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in image[int(round(xy[1])), int(round(xy[0]))])


def render(tmp_path: Path, motion: Motion, *args: str) -> tuple[int, Path]:
    save_motion_npz(motion, tmp_path / "m.npz")
    out = tmp_path / "out"
    code = main(["render-pose", "--motion", str(tmp_path / "m.npz"), "--out", str(tmp_path / "pose.mp4"),
                 "--dwpose-out", str(tmp_path / "dwpose.mp4"), "--character-masks-out", str(out), *args])
    return code, out


def test_extraction_keeps_keypoints_through_the_motion_file(extraction, scene, scene_video: Path,
                                                            tiny_weights: Path, tmp_path: Path) -> None:
    motion = extraction.motion
    assert motion.keypoints2d is not None and motion.keypoints2d.shape == (scene.frames, 3, 133, 3)
    # Same slot as the Motion's people: the red person (slot 0) has its right elbow at the layout
    # fraction of its rectangle; green (slot 1) is all NaN while it is out of the picture.
    for t in (0, 12, 20):
        np.testing.assert_allclose(motion.keypoints2d[t, 0, ELBOW, :2], point(scene.visible(0, t), ELBOW), atol=2.0)
    assert np.isnan(motion.keypoints2d[13:17, 1]).all() and np.isfinite(motion.keypoints2d[:13, 1]).all()
    out = tmp_path / "motion.npz"
    assert main(["extract", "--video", str(scene_video), "--out", str(out), "--weights", str(tiny_weights),
                 "--device", "cpu", "--full-frame"]) == 0
    loaded = read_motion(out).motion
    assert loaded.image_size == scene.size
    # Same process, same model and inputs: the values agree well within a hundredth of a pixel.
    np.testing.assert_allclose(loaded.keypoints2d, motion.keypoints2d, atol=1e-2)


def test_npz_round_trip_and_old_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    motion = detected_motion()
    motion.keypoints2d[1, 1] = np.nan  # not detected in frame 1
    save_motion_npz(motion, tmp_path / "new.npz")
    loaded = load_motion_npz(tmp_path / "new.npz")
    np.testing.assert_array_equal(loaded.keypoints2d, motion.keypoints2d)
    # `scail motion convert` to .npz keeps them; info and a GLB conversion say so.
    assert main(["motion", "convert", str(tmp_path / "new.npz"), str(tmp_path / "copy.npz")]) == 0
    np.testing.assert_array_equal(load_motion_npz(tmp_path / "copy.npz").keypoints2d, motion.keypoints2d)
    assert main(["motion", "info", str(tmp_path / "copy.npz")]) == 0
    assert "also: detected DWPose keypoints" in capsys.readouterr().out
    assert main(["motion", "convert", str(tmp_path / "new.npz"), str(tmp_path / "m.glb")]) == 0
    assert "does not keep detected DWPose keypoints" in capsys.readouterr().out
    # A file written before keypoints2d existed (plain numpy, the old keys only) loads without them.
    np.savez(tmp_path / "old.npz", joints3d_nonparam=motion.joints, fps=np.float64(8.0),
             image_size=np.array(SIZE), hands3d=np.zeros((2, 2, 2, 21, 3), np.float32))
    old = read_motion(tmp_path / "old.npz")
    assert old.kind == "motion npz" and old.motion.keypoints2d is None and old.motion.hands is not None


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.update(keypoints2d=a["keypoints2d"][:, :, :17]), "'keypoints2d' has shape"),
    (lambda a: a.pop("image_size"), "needs 'image_size'"),
    (lambda a: a["keypoints2d"].__setitem__((1, 0, 5, 0), np.nan), "frame 1 person 0 mixes numbers with NaN"),
    (lambda a: a["keypoints2d"].__setitem__((0, 1, 3, 2), np.inf), "frame 0 person 1 mixes numbers with NaN"),
    (lambda a: a["keypoints2d"].__setitem__((1, 1, 3, 0), 5e6), "frame 1 person 1 has a point more than"),
])
def test_bad_keypoints_are_refused_on_load(tmp_path: Path, change, message: str) -> None:
    motion = detected_motion()
    arrays = {"joints3d_nonparam": motion.joints, "image_size": np.array(SIZE), "keypoints2d": motion.keypoints2d}
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message):
        load_motion_npz(tmp_path / "bad.npz")


def test_retime_takes_the_nearest_detection() -> None:
    motion = detected_motion(frames=3)
    motion.keypoints2d[:, :, :, 0] += np.arange(3, dtype=np.float32)[:, None, None] * 50
    faster = retime(motion, 16.0)  # 8 -> 16 fps: source frames 0, 0.5, 1, 1.5, 2
    np.testing.assert_array_equal(faster.keypoints2d, motion.keypoints2d[[0, 1, 1, 2, 2]])


def test_render_pose_draws_the_detected_keypoints(tmp_path: Path) -> None:
    motion = detected_motion(rects=(RIGHT_RECT, LEFT_RECT))  # the file lists the right person first
    code, out = render(tmp_path, motion, "--dwpose-source", "detected")
    assert code == 0
    reference = np.asarray(Image.open(out / "reference_pose.png"))  # frame 0, lossless
    for rect in (LEFT_RECT, RIGHT_RECT):
        assert pixel(reference, (point(rect, SHOULDER) + point(rect, ELBOW)) / 2) == UPPER_ARM
    assert pixel(reference, (point(LEFT_RECT, ELBOW) + point(LEFT_RECT, WRIST)) / 2) == FOREARM
    # Person 0's wrist scores 0.1: neither its forearm nor the wrist's dot (nor the hand) is drawn.
    elbow, wrist = point(RIGHT_RECT, ELBOW), point(RIGHT_RECT, WRIST)
    assert pixel(reference, (elbow + wrist) / 2) == (0, 0, 0) and pixel(reference, wrist) == (0, 0, 0)
    frames = list(video.read_video(tmp_path / "dwpose.mp4"))
    assert len(frames) == motion.frames
    assert np.abs(frames[0].astype(int) - reference).mean() < 3  # H.264 of the same picture
    # Box masks in identity order (left to right: person 1, then person 0), each covering its
    # person's keypoints scoring above 0.3 and a 10% margin, no more.
    for character, person in enumerate((1, 0)):
        mask = next(iter(video.read_video(out / f"character_{character + 1}.mp4")))[..., 0]
        points = motion.keypoints2d[0, person]
        x0, y0 = points[points[:, 2] > 0.3, :2].min(axis=0)
        x1, y1 = points[points[:, 2] > 0.3, :2].max(axis=0)
        assert (mask[int(y0) + 1:int(y1), int(x0) + 1:int(x1)] == 255).all()
        width = x1 - x0
        assert mask[int((y0 + y1) / 2), int(x1 + 0.05 * width)] == 255
        assert mask[int((y0 + y1) / 2), int(x1 + 0.2 * width)] == 0
        other = motion.keypoints2d[0, 1 - person, :, :2].mean(axis=0)
        assert mask[int(other[1]), int(other[0])] == 0


def test_auto_draws_detected_and_reprojected_still_works(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert render(tmp_path / "a", detected_motion())[0] == 0
    assert render(tmp_path / "b", detected_motion(), "--dwpose-source", "reprojected")[0] == 0
    auto = np.asarray(Image.open(tmp_path / "a" / "out" / "reference_pose.png"))
    reprojected = np.asarray(Image.open(tmp_path / "b" / "out" / "reference_pose.png"))
    middle = (point(LEFT_RECT, SHOULDER) + point(LEFT_RECT, ELBOW)) / 2
    assert pixel(auto, middle) == UPPER_ARM and pixel(reprojected, middle) == (0, 0, 0)


def test_reframed_render_moves_the_keypoints_as_the_camera(tmp_path: Path) -> None:
    """--size 192x192 of a 256x448 motion: scaled by 0.75 to cover, 72 pixels cut on the left."""
    centre_rect = (170, 40, 270, 240)
    motion = detected_motion(rects=(LEFT_RECT, centre_rect))
    code, out = render(tmp_path, motion, "--dwpose-source", "detected", "--size", "192x192")
    assert code == 0
    reference = np.asarray(Image.open(out / "reference_pose.png"))
    assert reference.shape == (192, 192, 3)
    middle = (point(centre_rect, SHOULDER) + point(centre_rect, ELBOW)) / 2
    assert pixel(reference, middle * 0.75 - [72, 0]) == UPPER_ARM
    # neither only shifted nor only scaled
    assert pixel(reference, middle - [72, 0]) != UPPER_ARM and pixel(reference, middle * 0.75) != UPPER_ARM


@pytest.mark.parametrize(("motion", "args", "message"), [
    ("old", ["--dwpose-source", "detected"], "has no detected DWPose keypoints"),
    ("new", ["--dwpose-source", "detected", "--intrinsics", "400,400,224,128"], "--intrinsics moves only"),
])
def test_detected_source_refusals(tmp_path: Path, motion: str, args: list[str], message: str,
                                  capsys: pytest.CaptureFixture) -> None:
    chosen = detected_motion()
    if motion == "old":
        chosen.keypoints2d = None
    assert render(tmp_path, chosen, *args)[0] != 0
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_dwpose_source_needs_dwpose_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_motion_npz(detected_motion(), tmp_path / "m.npz")
    assert main(["render-pose", "--motion", str(tmp_path / "m.npz"), "--out", str(tmp_path / "pose.mp4"),
                 "--dwpose-source", "detected"]) != 0
    assert "says what --dwpose-out draws" in capsys.readouterr().err
