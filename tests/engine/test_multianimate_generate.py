"""A tiny MultiAnimate generation end to end: published layouts in, a video tensor out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from scail_blender.engine.devices import Dtypes
from scail_blender.engine.speed import Speed
from scail_blender.engine.multianimate.pipeline import MultiAnimateInputs, MultiAnimatePipeline, MultiAnimateSettings
from scail_blender.engine.multianimate.tiny import write_tiny_multianimate, write_tiny_wan_i2v
from scail_blender.errors import InputError
from scail_blender.progress import Progress

SETTINGS = MultiAnimateSettings(size=(32, 64), steps=2)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> MultiAnimatePipeline:
    root = tmp_path_factory.mktemp("ma-gen")
    return MultiAnimatePipeline(write_tiny_wan_i2v(root / "base"), write_tiny_multianimate(root / "ma.ckpt"), "cpu")


def three_characters(frames: int = 7, h: int = 48, w: int = 80) -> MultiAnimateInputs:
    rng = np.random.default_rng(0)
    poses = np.zeros((frames, h, w, 3), np.uint8)
    masks = np.zeros((3, frames, h, w), bool)
    for person in range(3):
        for f in range(frames):
            x = 8 + 24 * person + f
            poses[f, 8:40, x:x + 3] = (255, 85 * person, 0)  # a "limb" per character
            masks[person, f, 6:42, x - 6:x + 9] = True
    return MultiAnimateInputs(reference=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), poses=poses,
                              reference_pose=poses[0], masks=masks, prompt="three person dance")


def test_generates_the_usable_frames_at_the_size(pipeline: MultiAnimatePipeline) -> None:
    events: list[Progress] = []
    video = pipeline.generate(three_characters(), SETTINGS, events.append)
    assert video.shape == (3, 5, 32, 64)  # 7 frames given: 1 + 4k = 5 used
    assert torch.isfinite(video).all() and video.std() > 0.01
    assert [e.step for e in events if e.phase == "denoise"] == [1, 2]
    again = pipeline.generate(three_characters(), SETTINGS)
    torch.testing.assert_close(again, video, rtol=0, atol=1e-5)  # one seed, one video


def test_masks_and_poses_steer_the_result(pipeline: MultiAnimatePipeline) -> None:
    base = three_characters()
    swapped = MultiAnimateInputs(base.reference, base.poses, base.reference_pose, base.masks[::-1].copy(), base.prompt)
    a, b = pipeline.generate(base, SETTINGS), pipeline.generate(swapped, SETTINGS)
    # Identity slots are not interchangeable: far above the same-seed bound of the first test (1e-5),
    # though small with tiny random weights.
    assert (a - b).abs().max() > 1e-4


def test_bf16_mixture_runs(pipeline: MultiAnimatePipeline, tmp_path: Path) -> None:
    gpu_like = MultiAnimatePipeline(pipeline.base, pipeline.checkpoint, "cpu", Dtypes.gpu())
    video = gpu_like.generate(three_characters(), SETTINGS)
    assert video.dtype == torch.float32 and torch.isfinite(video).all()


def test_refuses_more_characters_than_the_checkpoint_takes(pipeline: MultiAnimatePipeline) -> None:
    base = three_characters()
    four = MultiAnimateInputs(base.reference, base.poses, base.reference_pose,
                              np.concatenate([base.masks, base.masks[:1]]))
    with pytest.raises(InputError, match="1 to 3 characters"):
        pipeline.generate(four, SETTINGS)
    with pytest.raises(InputError, match="masks must be"):
        pipeline.generate(MultiAnimateInputs(base.reference, base.poses, base.reference_pose, base.masks[:, :3]),
                          SETTINGS)


def test_exact_speed_modes_give_the_same_video(pipeline: MultiAnimatePipeline) -> None:
    """Block offload and CFG as two passes change memory, not results: the same video within 1e-4
    (batch 2 vs two batches of 1 may round matmuls differently by a few float32 ulps)."""
    inputs = three_characters()
    plain = pipeline.generate(inputs, SETTINGS)
    offloaded = pipeline.generate(inputs, replace(SETTINGS, speed=Speed(vram="12gb", cfg_batch=False, attention="sdpa")))
    torch.testing.assert_close(offloaded, plain, rtol=0, atol=1e-4)
    with pytest.raises(InputError, match="step cache"):
        pipeline.generate(inputs, replace(SETTINGS, speed=Speed(cache=0.2)))


def test_models_stay_loaded_between_jobs_with_the_same_speed(pipeline: MultiAnimatePipeline) -> None:
    pipeline.generate(three_characters(), SETTINGS)
    first = pipeline._models
    assert pipeline.loaded and first is not None
    pipeline.generate(three_characters(), SETTINGS)
    assert pipeline._models is first  # not read again
    pipeline.release()
    assert not pipeline.loaded


def test_three_character_scene_to_video(pipeline: MultiAnimatePipeline) -> None:
    """The bpy-free path a Blender scene will take: three characters' joints drawn DWPose style on one
    canvas, one silhouette per character (boxes here; the scene's will be capsule renders), then a video."""
    from scail_blender.pose.camera import Intrinsics
    from scail_blender.pose.dwpose_draw import draw_people, openpose_from_scene
    from scail_blender.pose.marks import project_marks
    from scail_blender.pose.synthetic import dancing

    h, w, frames = 96, 160, 5
    clip = dancing(frames)
    camera = Intrinsics.default(h, w)
    shifts = np.array([[-900.0, 0, 0], [0, 0, 400.0], [900.0, 0, 0]])
    poses = np.zeros((frames, h, w, 3), np.uint8)
    masks = np.zeros((3, frames, h, w), bool)
    for f in range(frames):
        joints = np.stack([camera.project(clip.joints[f, 0] + s) for s in shifts])
        marks = [project_marks(clip.head3d[f, 0] + s, clip.hands3d[f, 0] + s, camera) for s in shifts]
        poses[f] = draw_people(*openpose_from_scene(joints, marks), h, w)
        for person, points in enumerate(joints):
            (x0, y0), (x1, y1) = np.floor(points.min(0)).astype(int), np.ceil(points.max(0)).astype(int)
            masks[person, f, max(y0, 0):y1, max(x0, 0):x1] = True
    assert (poses > 0).mean() > 0.02 and masks.any(axis=(1, 2, 3)).all()
    inputs = MultiAnimateInputs(reference=np.full((h, w, 3), 128, np.uint8), poses=poses, reference_pose=poses[0],
                                masks=masks, prompt="three person are dancing")
    video = pipeline.generate(inputs, SETTINGS)
    assert video.shape == (3, frames, 32, 64) and torch.isfinite(video).all()


def test_refuses_an_extra_lora_by_name(pipeline: MultiAnimatePipeline) -> None:
    """A LoRA stack on top of MultiAnimate's own is refused with advice (it crashed on a missing attribute)."""
    with pytest.raises(InputError, match="extra LoRA"):
        pipeline.generate(three_characters(), replace(SETTINGS, speed=Speed(loras=(("style.safetensors", 1.0,
                                                                                     "style.safetensors"),))))
