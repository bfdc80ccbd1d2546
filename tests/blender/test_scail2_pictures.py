"""`tools/scail2_pictures.py`, the README's SCAIL-2 pictures: five small PNGs whose masks hold
exactly the identity colours on their mode's backgrounds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from scail_blender.pose.identity import PALETTE, background

from tests.server.conftest import child_env
from tests.support import ROOT, bpy_python

NAMES = ("pose", "mesh", "mask", "reference", "reference_mask")


def test_the_pictures_script_writes_small_pngs_with_exact_mask_colours(tmp_path: Path) -> None:
    proc = subprocess.run([bpy_python(), "tools/scail2_pictures.py", "--out", str(tmp_path)], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pictures = {name: tmp_path / f"scail2_{name}.png" for name in NAMES}
    assert all(path.stat().st_size < 100_000 for path in pictures.values())

    def colours(name: str) -> set[tuple[int, ...]]:
        pixels = np.asarray(Image.open(pictures[name]).convert("RGB")).reshape(-1, 3)
        return {tuple(int(v) for v in c) for c in np.unique(pixels, axis=0)}

    assert colours("mask") == {background("animation", "driving"), PALETTE[0], PALETTE[1]}
    assert colours("reference_mask") == {background("animation", "reference"), PALETTE[0], PALETTE[1]}
    mesh = np.asarray(Image.open(pictures["mesh"]).convert("RGB")).astype(int)
    assert np.abs(mesh - mesh.mean(axis=-1, keepdims=True)).max() <= 12 and len(colours("mesh")) > 8
