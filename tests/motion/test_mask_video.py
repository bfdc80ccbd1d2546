"""The SCAIL-2 driving mask of a skeleton render: real ffmpeg round trip, read back with the model's
own mask classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scail_blender.engine.preprocess import MASK_COLOURS, colour_mask_latent, halve
from scail_blender.media import video
from scail_blender.errors import InputError
from scail_blender.motion.model import Motion
from scail_blender.motion.pose_video import frame_motion, mask_frames, write_pose_video
from scail_blender.pose import synthetic
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.capsules import check_joints, depth_range, joint_validity
from scail_blender.pose.render import PoseRenderer
from scail_blender.pose.skeleton import N_LIMBS, palettes_for, smpl_to_scail

H, W, FRAMES = 128, 224, 13
BLUE, RED = (0, 0, 255), (255, 0, 0)


@pytest.fixture(scope="module")
def crossing() -> Motion:
    """The dancer (person 0) at the back, the walker (person 1) passing in front from right to left."""
    clip = synthetic.crossing(frames=FRAMES)
    motion = Motion(joints=clip.joints, fps=clip.fps, hands=clip.hands3d, head_marks=clip.head3d,
                    intrinsics=Intrinsics.default(512, 896).scaled(H / 512, W / 896), image_size=(H, W))
    return frame_motion(motion)


def capsule_people(motion: Motion) -> list[np.ndarray]:
    """Per frame, the person each pixel of the capsule render shows (-1 = none)."""
    joints = check_joints(smpl_to_scail(motion.joints), "T, P")
    valid, _ = joint_validity(joints)
    renderer = PoseRenderer(H, W, motion.intrinsics, depth_range(np.where(valid[..., None], joints, 0)),
                            palettes_for(2))
    out = []
    for people in joints:
        labels = renderer.render_with_labels(people)[1]
        out.append(np.where(labels >= 0, labels // N_LIMBS, -1))
    return out


def centre_x(labels: np.ndarray, person: int) -> float:
    cols = np.nonzero((labels == person).any(axis=0))[0]
    return (cols[0] + cols[-1]) / 2


def classes(frame: np.ndarray) -> np.ndarray:
    """Per pixel, the model's colour class (index into MASK_COLOURS, -1 = none/black), computed by
    preprocess.colour_mask_latent itself on a one-frame clip at full resolution."""
    x = (torch.from_numpy(frame.copy()).permute(2, 0, 1)[None].float() - 127.5) / 127.5
    maps = colour_mask_latent(x, frame.shape[:2])[:7, 0].numpy()
    assert set(np.unique(maps)) <= {0.0, 1.0} and maps.sum(axis=0).max() <= 1
    return np.where(maps.any(axis=0), maps.argmax(axis=0), -1)


@pytest.mark.parametrize("mode", ["animation", "replacement"])
def test_mask_video_is_exact_identity_silhouettes(crossing: Motion, tmp_path: Path, mode: str) -> None:
    out, mask = tmp_path / "pose.mp4", tmp_path / "mask.mp4"
    files = write_pose_video(crossing, out, mask_out=mask, mask_mode=mode, renderer="numpy")
    assert files.frames == FRAMES
    pose_info, mask_info = video.probe_video(out), video.probe_video(mask)
    assert (mask_info.frames, mask_info.width, mask_info.height, mask_info.fps) == \
        (pose_info.frames, pose_info.width, pose_info.height, pose_info.fps) == (FRAMES, W, H, 16.0)
    decoded = list(video.read_video(mask))
    people = capsule_people(crossing)
    # Frame 0: the dancer is left of the walker, so dancer = blue, walker = red; by the last frame
    # they have swapped sides and keep their colours.
    assert centre_x(people[0], 0) < centre_x(people[0], 1)
    assert centre_x(people[-1], 1) < centre_x(people[-1], 0)
    bg = (0, 0, 0) if mode == "animation" else (255, 255, 255)
    lut = np.array([BLUE, RED, bg], np.uint8)
    intended_class = [MASK_COLOURS.index((0, 0, 1)), MASK_COLOURS.index((1, 0, 0)),
                      -1 if mode == "animation" else MASK_COLOURS.index((1, 1, 1))]
    for t, (frame, labels) in enumerate(zip(decoded, people)):
        assert (labels == 0).sum() > 50 and (labels == 1).sum() > 50, t
        assert np.array_equal(frame, lut[np.where(labels >= 0, labels, 2)]), f"frame {t} is not the exact silhouettes"
        assert np.array_equal(classes(frame), np.array(intended_class)[np.where(labels >= 0, labels, 2)]), t


def test_mask_latent_from_the_file_equals_the_drawn_masks(crossing: Motion, tmp_path: Path) -> None:
    """The model's 28-channel driving mask (halved, area-downsampled by 8) read from our file equals
    the one computed from the same masks before encoding: the encoding loses nothing."""
    mask = tmp_path / "mask.mp4"
    write_pose_video(crossing, tmp_path / "pose.mp4", mask_out=mask, renderer="numpy")

    def latent(frames: list[np.ndarray]) -> torch.Tensor:
        x = (torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() - 127.5) / 127.5
        return colour_mask_latent(halve(x), (H // 16, W // 16))

    from_file = latent(list(video.read_video(mask)))
    assert from_file.shape == (28, 1 + (FRAMES - 1) // 4, H // 16, W // 16)
    assert torch.equal(from_file, latent(list(mask_frames(crossing))))
    assert from_file[3].sum() > 0 and from_file[1].sum() > 0  # blue and red cells present


def test_a_failed_pose_render_leaves_no_mask(crossing: Motion, tmp_path: Path) -> None:
    mask = tmp_path / "mask.mp4"
    with pytest.raises(Exception, match="unknown mask mode"):
        write_pose_video(crossing, tmp_path / "pose.mp4", mask_out=mask, mask_mode="e2e", renderer="numpy")
    assert not mask.exists() and not (tmp_path / "pose.mp4").exists()
    assert not any(tmp_path.iterdir())


def test_given_labels_are_painted_and_must_cover_the_clip(crossing: Motion, tmp_path: Path) -> None:
    """Labels a scene render drew (from meshes) replace the capsule silhouettes, identities by the
    same first-frame rule; labels for another number of frames are refused before any file."""
    labels = [np.full((H, W), -1, np.int32) for _ in range(FRAMES)]
    for t, frame in enumerate(labels):
        frame[10:40, 150 - 8 * t:170 - 8 * t] = 0  # person 0 starts on the right, walks left
        frame[60:90, 40 + 8 * t:60 + 8 * t] = 1  # person 1 starts on the left, walks right
    mask = tmp_path / "mask.mp4"
    files = write_pose_video(crossing, tmp_path / "pose.mp4", mask_out=mask, mask_labels=labels, renderer="numpy")
    assert files.mask == mask
    for frame, drawn in zip(video.read_video(mask), labels, strict=True):
        assert np.array_equal(frame, np.array([RED, BLUE, (0, 0, 0)], np.uint8)[np.where(drawn >= 0, drawn, 2)])
    with pytest.raises(InputError, match=f"2 label frames but the clip {FRAMES}"):
        write_pose_video(crossing, tmp_path / "again.mp4", mask_out=tmp_path / "again_mask.mp4",
                         mask_labels=labels[:2], renderer="numpy")
    assert not (tmp_path / "again.mp4").exists() and not (tmp_path / "again_mask.mp4").exists()


# SCAIL-Pose TrackSam3's DEFAULT_PALETTE_BGR read as RGB (= ComfyUI's SCAIL2ColoredMask palette).
OFFICIAL_PALETTE = [(0, 0, 255), (255, 0, 0), (0, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0)]


def official_masks(labels: list[np.ndarray], mode: str) -> list[np.ndarray]:
    """The masks drawn as the official tools draw them, written out independently of pose/identity.py:
    each person's binary mask filled flat with palette[rank % 6], ranked left to right by the centre
    of the person's box in the first frame, on black (animation driving) or white (replacement)."""
    people = sorted({int(p) for p in np.unique(labels[0]) if p >= 0}, key=lambda p: centre_x(labels[0], p))
    background = 0 if mode == "animation" else 255
    frames = []
    for frame in labels:
        canvas = np.full((*frame.shape, 3), background, np.uint8)
        for rank, person in enumerate(people):
            canvas[frame == person] = OFFICIAL_PALETTE[rank % 6]
        frames.append(canvas)
    return frames


@pytest.mark.parametrize("mode", ["animation", "replacement"])
def test_mask_latent_equals_the_official_drawing(crossing: Motion, tmp_path: Path, mode: str) -> None:
    """The 28-channel latent the model computes from our mask file equals the one it computes from
    the same silhouettes drawn the official way, in both modes (the issue's parity condition)."""
    labels = capsule_people(crossing)
    mask = tmp_path / "mask.mp4"
    write_pose_video(crossing, tmp_path / "pose.mp4", mask_out=mask, mask_mode=mode, mask_labels=labels,
                     renderer="numpy")

    def latent(frames: list[np.ndarray]) -> torch.Tensor:
        x = (torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() - 127.5) / 127.5
        return colour_mask_latent(halve(x), (H // 16, W // 16))

    ours, official = latent(list(video.read_video(mask))), latent(official_masks(labels, mode))
    assert torch.equal(ours, official)
    assert all(ours[MASK_COLOURS.index(c)].sum() > 0 for c in [(0, 0, 1), (1, 0, 0)])  # blue and red cells
