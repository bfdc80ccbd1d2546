"""The whole pipeline on a real mp4 with the tiny stand-in networks (see extract/testing.py):
boxes, crops and decoding against the drawn rectangles, ids through crossing and re-entry,
2D marks on the right person, the official weights check, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scail_blender.cli import main
from scail_blender.errors import InputError
from scail_blender.extract import ExtractOptions, extract_motion
from scail_blender.extract.testing import CONFIDENCE, DEPTHS_MM, LAYOUT, Scene, nlf_centre, write_scene
from scail_blender.extract.weights import find_weights
from scail_blender.motion import read_motion
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.framing import pose_size_for

RED, GREEN, BLUE = 0, 1, 2


def _slot_of(extraction, scene, colour: int) -> int:
    """The Motion slot holding the scene's person ``colour`` (by the frame-0-or-later box)."""
    t = next(t for t in range(scene.frames) if scene.visible(colour, t))
    want = np.array(scene.visible(colour, t), float)
    errors = np.abs(extraction.boxes[t, :, :4] - want).max(axis=1)
    return int(np.argmin(np.where(np.isnan(errors), np.inf, errors)))


def test_boxes_match_the_drawn_people(extraction, scene) -> None:
    slots = {c: _slot_of(extraction, scene, c) for c in (RED, GREEN, BLUE)}
    assert sorted(slots.values()) == [0, 1, 2]
    for t in range(scene.frames):
        for colour, slot in slots.items():
            truth = scene.visible(colour, t)
            box = extraction.boxes[t, slot]
            if truth is None:
                assert np.isnan(box).all(), (t, colour)
            else:
                np.testing.assert_allclose(box[:4], truth, atol=2.0, err_msg=f"frame {t} person {colour}")


def test_ids_survive_crossing_and_reentry(extraction, scene) -> None:
    motion = extraction.motion
    assert motion.people == 3 and motion.person_ids is not None
    present = motion.present()
    red, green, blue = (_slot_of(extraction, scene, c) for c in (RED, GREEN, BLUE))
    assert (red, green, blue) == (0, 1, 2)  # ranked by frames seen: 24, 20, 4
    assert present[:, red].all()
    np.testing.assert_array_equal(present[:, green], [not 13 <= t <= 16 for t in range(scene.frames)])
    np.testing.assert_array_equal(present[:, blue], [t >= 20 for t in range(scene.frames)])
    # each slot's 3D joints stay at its colour's depth: no id swap at the crossing (frames 6-10)
    for slot, colour in ((red, RED), (green, GREEN), (blue, BLUE)):
        depth = motion.joints[present[:, slot], slot, :, 2].mean(axis=1)
        np.testing.assert_allclose(depth, DEPTHS_MM[colour], atol=1.0)


def test_nlf_joints_belong_to_their_box(extraction, scene) -> None:
    """At the crossing the green person reaches into red's masked frame and is NLF's detection 0;
    the detection overlapping red's box is the one kept."""
    motion = extraction.motion
    assert scene.visible(GREEN, 8) is not None
    for t in range(scene.frames):
        for slot, colour in ((0, RED), (1, GREEN)):
            truth = scene.visible(colour, t)
            if truth is None:
                continue
            centre = motion.joints[t, slot].mean(axis=0)
            np.testing.assert_allclose(centre, nlf_centre(truth, DEPTHS_MM[colour], scene.size), atol=25.0)


def test_keypoints_decode_onto_the_person(extraction, scene) -> None:
    """DWPose points are the layout fractions of the rectangle seen at the crop centre (frames
    where green covers red's box centre are left out: there the stand-in sees green)."""
    for t in (0, 5, 12, 20):
        for slot, colour in ((0, RED), (1, GREEN)):
            truth = scene.visible(colour, t)
            if truth is None:
                continue
            x1, y1, x2, y2 = truth
            expected = np.c_[x1 + LAYOUT[:, 0] * (x2 - x1), y1 + LAYOUT[:, 1] * (y2 - y1)]
            points = extraction.keypoints[t, slot]
            np.testing.assert_allclose(points[:, :2], expected, atol=2.5, err_msg=f"frame {t} person {colour}")
            np.testing.assert_allclose(points[:, 2], CONFIDENCE, atol=0.006)  # peaks fall between bins


def test_marks_project_back_onto_dwpose_pixels(extraction) -> None:
    motion = extraction.motion
    camera = motion.intrinsics
    assert camera == Intrinsics.default(*motion.image_size)
    t, slot = 5, 0
    kp = extraction.keypoints[t, slot]
    hands = camera.project(motion.hands[t, slot])            # [2, 21, 2]
    np.testing.assert_allclose(hands[0], kp[91:112, :2], atol=1e-3)
    np.testing.assert_allclose(hands[1, :17], kp[112:129, :2], atol=1e-3)
    assert not motion.hands[t, slot, 1, 17:].any()           # below 0.3: missing, not drawn
    np.testing.assert_allclose(motion.hands[t, slot, 0, :, 2], motion.joints[t, slot, 20, 2])  # left wrist depth
    head = camera.project(motion.head_marks[t, slot])
    np.testing.assert_allclose(head, kp[[0, 2, 1, 4, 3], :2], atol=1e-3)
    assert not motion.face[t, slot, 0].any() and motion.face[t, slot, 1:].all()
    # absent people have no marks
    assert not motion.hands[13, 1].any() and not motion.face[13, 1].any()


def test_people_limit_and_smoothing(scene_video: Path, tiny_weights: Path, extraction) -> None:
    result = extract_motion(scene_video, ExtractOptions(weights=tiny_weights, device="cpu", people=2, smooth=True,
                                                        full_frame=True))
    motion = result.motion
    assert motion.people == 2 and motion.person_ids == extraction.motion.person_ids[:2]
    np.testing.assert_array_equal(motion.present(), extraction.motion.present()[:, :2])
    raw = extraction.motion.joints[:, :2]
    moved = np.abs(motion.joints - raw).max()
    assert 0 < moved < 100  # smoothed, not displaced
    assert np.array_equal(motion.joints[0], raw[0])  # a run starts at its first value


def test_missing_weights_are_named_with_their_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "DWPose").mkdir()
    (tmp_path / "DWPose" / "yolox_l.onnx").write_bytes(b"x")
    with pytest.raises(InputError) as err:
        find_weights(tmp_path)
    text = str(err.value)
    assert "nlf_l_multi_0.3.2.torchscript" in text and "github.com/isarandi/nlf/releases" in text
    assert "non-commercial" in text and "DWPose/dw-ll_ucoco_384.onnx" in text and "yzd-v/DWPose" in text
    assert "yolox_l.onnx (download" not in text  # present files are not listed
    monkeypatch.delenv("SCAIL_POSE_WEIGHTS", raising=False)
    with pytest.raises(InputError, match="SCAIL_POSE_WEIGHTS"):
        find_weights(None)
    monkeypatch.setenv("SCAIL_POSE_WEIGHTS", str(tmp_path))
    with pytest.raises(InputError, match="Pose weights missing"):
        find_weights(None)


def test_cli_extract_render_and_align(scene_video: Path, tiny_weights: Path, scene, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    ref = tmp_path / "ref.png"
    Image.fromarray(scene.frame(0)).save(ref)
    out, pose = tmp_path / "motion.npz", tmp_path / "pose.mp4"
    code = main(["extract", "--video", str(scene_video), "--out", str(out), "--render", str(pose),
                 "--align-ref", str(ref), "--weights", str(tiny_weights), "--device", "cpu", "--people", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "align (lower body" in captured.err
    loaded = read_motion(out)
    assert loaded.kind == "motion npz" and loaded.motion.people == 2 and loaded.motion.face is not None
    assert loaded.motion.intrinsics != Intrinsics.default(*scene.size)
    assert pose.is_file() and pose.stat().st_size > 0


def test_cli_errors_are_one_line(tmp_path: Path, tiny_weights: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["extract", "--video", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "m.npz"),
                 "--weights", str(tiny_weights)]) == 2
    assert main(["extract", "--video", str(tmp_path), "--out", str(tmp_path / "m.npz"),
                 "--weights", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "Pose weights missing" in err[1]


def test_devices(tiny_weights: Path) -> None:
    from scail_blender.extract.runtime import check_device, onnx_session

    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(InputError, match="--device"):
        check_device("tpu")
    session = onnx_session(tiny_weights / "DWPose" / "yolox_l.onnx", "auto")
    assert session.get_providers()[-1] == "CPUExecutionProvider"
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(InputError, match="onnxruntime-gpu"):
            onnx_session(tiny_weights / "DWPose" / "yolox_l.onnx", "cuda")


def test_png_folder_input(scene, tiny_weights: Path, tmp_path: Path) -> None:
    from PIL import Image

    for t in range(3):
        Image.fromarray(scene.frame(t)).save(tmp_path / f"{t:05d}.png")
    result = extract_motion(tmp_path, ExtractOptions(weights=tiny_weights, device="cpu", full_frame=True))
    assert result.motion.frames == 3 and result.motion.people == 2 and result.motion.fps == 16.0
    assert _slot_of(result, scene, GREEN) == 0  # seen as often as red, and larger
    np.testing.assert_allclose(result.boxes[0, _slot_of(result, scene, RED), :4], scene.visible(RED, 0), atol=1.0)


def test_frames_are_cropped_to_the_model_size_as_scail_pose_does(tiny_weights: Path, tmp_path: Path) -> None:
    """A 4:3 video covers 672x896 and loses 80 rows top and bottom: the person in the top strip is
    gone, the other's box is scaled by 2.8 and moved up 80 rows, and NLF's camera is the crop's."""
    centre, top = (100, 60, 160, 200), (250, 0, 300, 25)
    scene = Scene((240, 320), [[centre] * 3, [top] * 3])
    video = write_scene(scene, tmp_path / "four_three.mp4")
    cropped = extract_motion(video, ExtractOptions(weights=tiny_weights, device="cpu"))
    whole = extract_motion(video, ExtractOptions(weights=tiny_weights, device="cpu", full_frame=True))
    assert whole.motion.people == 2 and whole.motion.image_size == (240, 320)
    assert cropped.motion.people == 1 and cropped.motion.image_size == (512, 896)
    assert cropped.motion.intrinsics == Intrinsics.default(512, 896)
    x1, y1, x2, y2 = centre
    np.testing.assert_allclose(cropped.boxes[:, 0, :4], [[2.8 * x1, 2.8 * y1 - 80, 2.8 * x2, 2.8 * y2 - 80]] * 3, atol=3)
    assert any("resized and centre-cropped to 512 high x 896 wide" in note for note in cropped.notes)


def test_square_and_portrait_videos_extract_as_portrait() -> None:
    assert pose_size_for(240, 320) == (512, 896)
    assert pose_size_for(300, 300) == pose_size_for(896, 512) == (896, 512)
