"""Start-up costs of a short render (issue 10 point 6): no torch import without a GPU driver,
PNG frames through the fast writer."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from scail_blender.media.png import encode_png

from tests.support import ROOT, run_script


def test_png_frames_read_back_exactly() -> None:
    rng = np.random.default_rng(0)
    frame = np.zeros((64, 96, 3), np.uint8)
    frame[10:30, 20:70] = rng.integers(0, 256, (20, 50, 3), dtype=np.uint8)
    image = Image.open(io.BytesIO(encode_png(frame)))
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), frame)


def test_auto_renderer_renders_without_importing_torch_when_no_driver_is_there() -> None:
    result = run_script(ROOT / "tests" / "scripts" / "auto_renderer_render.py")
    assert result["frames"] == 2
    assert not result["torch"] or result["driver"]
