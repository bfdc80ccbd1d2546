"""Start-up costs of a short render (issue 10 point 6): no torch import without a GPU driver,
PNG frames through the fast writer."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from scail_blender.pose.png import encode_png

from tests.support import run_python


def test_png_frames_read_back_exactly() -> None:
    rng = np.random.default_rng(0)
    frame = np.zeros((64, 96, 3), np.uint8)
    frame[10:30, 20:70] = rng.integers(0, 256, (20, 50, 3), dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(frame)))
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), frame)


def test_auto_backend_renders_without_importing_torch_when_no_driver_is_there() -> None:
    proc = run_python("""
        import sys
        from scail_blender.pose import render
        from scail_blender.pose.camera import Intrinsics
        from scail_blender.pose.synthetic import CLIPS
        from scail_blender.pose.skeleton import smpl_to_scail
        clip = CLIPS["walking"](frames=2)
        frames = list(render.render_clip(smpl_to_scail(clip.joints), Intrinsics.default(64, 96), (64, 96)))
        assert len(frames) == 2
        print("torch" in sys.modules, render._nvidia_driver_present())
        """)
    imported, driver = proc.stdout.split()
    assert imported == "False" or driver == "True"
