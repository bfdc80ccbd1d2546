"""``scail render-pose --dwpose-out --character-masks-out``: MultiAnimate's inputs from a render,
and refusals of bad options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.cli import main
from scail_blender.engine.multianimate.tiny import write_tiny_multianimate
from scail_blender.jobs.characters import checkpoint_characters
from scail_blender.media import video
from scail_blender.motion.model import Motion, save_motion_npz
from scail_blender.motion.multianimate_inputs import dwpose_frames
from scail_blender.motion.pose_video import frame_motion, mask_frames
from scail_blender.pose.identity import PALETTE

from tests.motion.test_character_masks import septet

from .test_cli_render_pose import STANDING


def trio(frames: int = 5) -> Motion:
    """Three standing people; in the file the middle one comes first and the left one last."""
    joints = np.repeat(STANDING[None, None], frames, axis=0).repeat(3, axis=1)
    for person, x in enumerate((0.0, 700.0, -700.0)):
        joints[:, person, :, 0] += x + 20 * np.arange(frames)[:, None]
    return Motion(joints=joints, fps=12.0, image_size=(128, 224))


def test_dwpose_and_character_masks_in_identity_order(tmp_path: Path) -> None:
    save_motion_npz(trio(), tmp_path / "trio.npz")
    out, dwpose, masks = tmp_path / "pose.mp4", tmp_path / "dwpose.mp4", tmp_path / "masks"
    assert main(["render-pose", "--motion", str(tmp_path / "trio.npz"), "--out", str(out), "--dwpose-out",
                 str(dwpose), "--character-masks-out", str(masks)]) == 0
    pose, drawn = video.probe_video(out), video.probe_video(dwpose)
    assert (drawn.frames, drawn.width, drawn.height, drawn.fps) == (pose.frames, pose.width, pose.height, pose.fps)
    assert sorted(p.name for p in masks.iterdir()) == ["character_1.mp4", "character_2.mp4", "character_3.mp4",
                                                       "reference_pose.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dwpose.mp4", "masks", "pose.mp4", "trio.npz"]  # no temp
    # The reference skeleton is the first frame drawn DWPose style, exactly (PNG is lossless).
    expected = list(dwpose_frames(frame_motion(trio())))
    reference = np.asarray(Image.open(masks / "reference_pose.png"))
    assert np.array_equal(reference, expected[0]) and (reference > 0).any(axis=2).mean() > 0.01
    # Mask k is exactly the pixels of identity colour k of the SCAIL-2 driving mask: left to right.
    colour = mask_frames(frame_motion(trio()), "animation")
    centres = []
    for k in range(3):
        frames = list(video.read_video(masks / f"character_{k + 1}.mp4"))
        assert len(frames) == pose.frames and set(np.unique(np.stack(frames))) <= {0, 255}
        for got, want in zip(frames, colour):
            assert np.array_equal(got[..., 0] == 255, (want == PALETTE[k]).all(axis=2))
        centres.append(np.argwhere(frames[0][..., 0])[:, 1].mean())
    assert centres[0] < centres[1] < centres[2]


@pytest.mark.parametrize(("args", "message"), [
    (["--dwpose-out", "dw.mp4"], "go together"),
    (["--character-masks-out", "masks"], "go together"),
    (["--dwpose-out", "dw.mp4", "--character-masks-out", "full"], "not an empty folder"),
    (["--checkpoint", "full"], "give --dwpose-out DWPOSE.mp4 --character-masks-out DIR too"),
])
def test_bad_multianimate_options_are_refused(tmp_path: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture) -> None:
    save_motion_npz(trio(), tmp_path / "trio.npz")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    args = [str(tmp_path / a) if a.endswith((".mp4", "masks", "full")) else a for a in args]
    assert main(["render-pose", "--motion", str(tmp_path / "trio.npz"), "--out", str(tmp_path / "pose.mp4"),
                 *args]) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "pose.mp4").exists() and (tmp_path / "full" / "keep.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Tiny MultiAnimate folders of the standard (3) and extended (7) checkpoints' shapes."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {n: write_tiny_multianimate(root / f"multi{n}", persons=n) for n in (3, 7)}


def test_the_character_limit_is_read_from_the_checkpoint(checkpoints: dict[int, Path]) -> None:
    assert [checkpoint_characters(checkpoints[n]) for n in (3, 7)] == [3, 7]
    assert checkpoint_characters(checkpoints[7] / "output_dir") == 7


def test_seven_characters_for_the_extended_checkpoint(tmp_path: Path, checkpoints: dict[int, Path],
                                                      capsys: pytest.CaptureFixture) -> None:
    save_motion_npz(septet(), tmp_path / "seven.npz")
    masks = tmp_path / "masks"
    assert main(["render-pose", "--motion", str(tmp_path / "seven.npz"), "--out", str(tmp_path / "pose.mp4"),
                 "--dwpose-out", str(tmp_path / "dwpose.mp4"), "--character-masks-out", str(masks),
                 "--checkpoint", str(checkpoints[7])]) == 0
    names = [f"character_{k}.mp4" for k in range(1, 8)]
    assert sorted(p.name for p in masks.iterdir()) == sorted([*names, "reference_pose.png"])
    line = next(line for line in capsys.readouterr().out.splitlines() if "scail generate " in line)
    flags = line.split("scail generate ")[1].split()
    assert [Path(f).name for f in flags[1::2][:7]] == names and flags[-2] == "--reference-pose"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dwpose.mp4", "masks", "pose.mp4", "seven.npz"]


@pytest.mark.parametrize(("people", "checkpoint", "message"), [
    (8, None, "8 characters, but MultiAnimate (its extended checkpoint) animates at most 7: render a motion file "
              "with fewer people. Nothing was rendered."),
    (8, 7, "8 characters, but the MultiAnimate checkpoint multi7 animates at most 7"),
    (7, 3, "7 characters, but the MultiAnimate checkpoint multi3 animates at most 3: render a motion file with "
           "fewer people, or use the extended checkpoint epoch=23-step=4200-multi.ckpt (7 characters)."),
])
def test_more_characters_than_the_checkpoint_takes_are_refused_before_rendering(
        tmp_path: Path, checkpoints: dict[int, Path], capsys: pytest.CaptureFixture, people: int,
        checkpoint: int | None, message: str) -> None:
    save_motion_npz(septet(people=people), tmp_path / "many.npz")
    args = ["--checkpoint", str(checkpoints[checkpoint])] if checkpoint else []
    assert main(["render-pose", "--motion", str(tmp_path / "many.npz"), "--out", str(tmp_path / "pose.mp4"),
                 "--dwpose-out", str(tmp_path / "dwpose.mp4"), "--character-masks-out", str(tmp_path / "masks"),
                 *args]) != 0
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.npz"]
