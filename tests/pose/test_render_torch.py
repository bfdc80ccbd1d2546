"""The torch renderer draws the same frames as the numpy one (checked on CPU torch).

Equal, not close, on any CPU: both run the shared float32 kernels (sphere_hit, side_hit, shade_hits) on the same scene
constants, and those use only IEEE-754 operations that are correctly rounded (+, -, *, /, sqrt,
comparisons) in the same order: no sums over an axis and no exp/sin, whose results depend on
the library and the CPU's vector width. Frame batching only changes the broadcast shapes.
"""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.pose import synthetic
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.marks import draw_marks, project_marks
from scail_blender.pose.render import render_clip
from scail_blender.pose.skeleton import smpl_to_scail

torch = pytest.importorskip("torch")

H, W = 96, 160
CAMERA = Intrinsics.default(512, 896).scaled(H / 512, W / 896)


def test_torch_frames_equal_numpy_frames() -> None:
    clip = synthetic.crossing(frames=41)
    joints = smpl_to_scail(clip.joints)[::8].copy()
    joints[1, 0, 4] = 0  # a missing wrist in one frame: batches with ragged capsule lists
    joints[2, 1] = 0  # a whole person missing in another
    ours = list(render_clip(joints, CAMERA, (H, W), renderer="numpy"))
    theirs = list(render_clip(joints, CAMERA, (H, W), renderer="torch"))
    assert len(theirs) == len(ours)
    for a, b in zip(ours, theirs):
        assert a.any()
        np.testing.assert_array_equal(a, b)


def test_both_renderers_paint_the_marks_of_every_frame_over_its_render() -> None:
    """Marks are computed per batch (16 frames on numpy, 4 on CPU torch) and land on their frame."""
    clip = synthetic.crossing(frames=41)
    joints = smpl_to_scail(clip.joints)[::2].copy()
    marks = [[project_marks(clip.head3d[t, p], clip.hands3d[t, p], CAMERA) for p in range(2)] for t in range(0, 41, 2)]
    marks[3] = None
    marks[17][0] = None
    bare = list(render_clip(joints, CAMERA, (H, W), renderer="numpy"))
    expected = [frame.copy() for frame in bare]
    for frame, people in zip(expected, marks):
        if people is not None:
            draw_marks(frame, people)
    assert sum((a != b).any() for a, b in zip(expected, bare)) == len(marks) - 1
    for renderer in ("numpy", "torch"):
        frames = list(render_clip(joints, CAMERA, (H, W), marks=marks, renderer=renderer))
        assert len(frames) == len(expected)
        for a, b in zip(frames, expected):
            np.testing.assert_array_equal(a, b)
