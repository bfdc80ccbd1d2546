"""MultiAnimate's character masks cut from a render's integer labels (``write_pose_video`` with
``character_masks``): seven characters, from the capsule labels (--motion) and from given label
images (the --blend meshes' path), real ffmpeg round trips."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from scail_blender.errors import Cancelled
from scail_blender.media import video
from scail_blender.motion.model import Motion
from scail_blender.motion.multianimate_inputs import character_mask_paths
from scail_blender.motion.pose_video import frame_motion, write_pose_video
from scail_blender.pose.identity import PALETTE
from scail_blender.pose.render import render_clip_people
from scail_blender.pose.skeleton import smpl_to_scail
from scail_blender.progress import Progress

from tests.cli.test_cli_render_pose import STANDING

H, W, FRAMES = 128, 448, 4
# x of each person of the file (mm, 3 m away): shuffled, person 0 the leftmost but absent from the
# first two frames, so it is the late arrival and gets the last identity.
XS = (-1350.0, 450.0, -900.0, 1350.0, 0.0, -450.0, 900.0)
LATE = 0


def septet(frames: int = FRAMES, people: int = 7) -> Motion:
    """``people`` standing people in a row (``XS``, then further right), person 0 arriving in frame 2."""
    xs = [*XS, *(1800.0 + 450.0 * k for k in range(people - len(XS)))][:people]
    joints = np.repeat(STANDING[None, None], frames, axis=0).repeat(people, axis=1)
    joints[..., 0] += np.array(xs, np.float32)[None, :, None]
    joints[:2, LATE] = 0.0  # missing (all-zero) in the first two frames
    return Motion(joints=joints, fps=12.0, image_size=(H, W))


def expected_people(first: np.ndarray, people: int, late: list[int]) -> list[int]:
    """The person of each identity, worked out here from the labels alone: those seen in the first
    frame left to right by the centre of their pixels' box, then the late arrivals."""
    seen = [p for p in range(people) if (first == p).any()]
    centre = {p: (lambda c: (c.min() + c.max()) / 2)(np.nonzero((first == p).any(axis=0))[0]) for p in seen}
    return sorted(seen, key=centre.__getitem__) + late


def read_masks(paths: list[Path]) -> np.ndarray:
    """[characters, T, H, W] bool, checking every mask video is binary and white/black in all channels."""
    out = []
    for path in paths:
        frames = np.stack(list(video.read_video(path)))
        assert set(np.unique(frames)) <= {0, 255} and (frames == frames[..., :1]).all()
        out.append(frames[..., 0] == 255)
    return np.stack(out)


def test_seven_characters_from_the_capsule_labels(tmp_path: Path) -> None:
    motion = frame_motion(septet())
    paths = character_mask_paths(tmp_path / "masks", motion.people)
    files = write_pose_video(motion, tmp_path / "pose.mp4", mask_out=tmp_path / "mask.mp4", character_masks=paths)
    assert files.character_masks == tuple(paths) and [p.name for p in paths][-1] == "character_7.mp4"
    masks = read_masks(paths)
    labels = np.stack(list(render_clip_people(smpl_to_scail(motion.joints), motion.intrinsics, motion.image_size)))
    assert masks.shape == (7, FRAMES, H, W)
    # Union and disjointness are the labels': every drawn pixel in exactly one mask, nothing else.
    assert np.array_equal(masks.sum(axis=0), (labels >= 0).astype(masks.sum(axis=0).dtype))
    order = expected_people(labels[0], 7, [LATE])
    assert order[-1] == LATE and order[:6] == [2, 5, 4, 1, 6, 3]  # left to right, then the arrival
    for identity, person in enumerate(order):
        assert np.array_equal(masks[identity], labels == person), identity
        assert masks[identity][2:].any(axis=(1, 2)).all()
    assert not masks[6][:2].any()
    # The same identities as the SCAIL-2 mask's colours (the order of the 3-character path): its
    # six colours repeat from the seventh identity on, as SCAIL-2's palette does.
    colour = np.stack(list(video.read_video(tmp_path / "mask.mp4")))
    for identity in range(6):
        painted = (colour == PALETTE[identity]).all(axis=-1)
        assert np.array_equal(painted, masks[identity] | masks[6] if identity == 0 else masks[identity])


def test_seven_characters_from_given_label_images(tmp_path: Path) -> None:
    """The --blend path: label images (the meshes' silhouettes) are given; the masks are exactly
    their identities, overlapping boxes included (the labels decide, one person per pixel)."""
    motion = frame_motion(septet())
    rng = np.random.default_rng(0)
    labels = []
    for t in range(FRAMES):
        frame = np.full((H, W), -1, np.int32)
        for person, x in enumerate(XS):
            if person == LATE and t < 2:
                continue
            left = int(W / 2 + x * 0.14) - 30 + int(rng.integers(-3, 4))
            frame[20 + t: 100 + t, max(left, 0): left + 60] = person  # neighbours overlap by about 30 px
        labels.append(frame)
    paths = character_mask_paths(tmp_path / "masks", motion.people)
    write_pose_video(motion, tmp_path / "pose.mp4", mask_labels=labels, character_masks=paths)
    masks = read_masks(paths)
    assert not (tmp_path / "mask.mp4").exists()
    assert np.array_equal(masks.sum(axis=0), (np.stack(labels) >= 0).astype(masks.sum(axis=0).dtype))
    order = expected_people(labels[0], 7, [LATE])
    for identity, person in enumerate(order):
        assert np.array_equal(masks[identity], np.stack(labels) == person), identity
    assert [int(np.nonzero(m[2].any(axis=0))[0].mean()) for m in masks[:6]] == sorted(
        int(np.nonzero(m[2].any(axis=0))[0].mean()) for m in masks[:6])


def test_a_cancelled_render_leaves_no_mask(tmp_path: Path) -> None:
    motion = frame_motion(septet())
    paths = character_mask_paths(tmp_path / "masks", motion.people)
    cancel = threading.Event()

    def progress(event: Progress) -> None:
        if event.phase == "render" and event.step >= 2:
            cancel.set()

    with pytest.raises(Cancelled):
        write_pose_video(motion, tmp_path / "pose.mp4", mask_out=tmp_path / "mask.mp4", character_masks=paths,
                         progress=progress, cancel=cancel)
    assert sorted(p.name for p in tmp_path.rglob("*")) == []
