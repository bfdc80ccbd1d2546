"""The torch backend draws the same frames as the numpy one (checked on CPU torch)."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.pose import synthetic
from scail_blender.pose.camera import Intrinsics
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
    ours = list(render_clip(joints, CAMERA, (H, W), backend="numpy"))
    theirs = list(render_clip(joints, CAMERA, (H, W), backend="torch"))
    assert len(theirs) == len(ours)
    for a, b in zip(ours, theirs):
        assert a.any()
        np.testing.assert_array_equal(a, b)
