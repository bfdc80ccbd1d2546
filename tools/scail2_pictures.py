"""The README's SCAIL-2 pictures, rendered from a demo scene: two Rigify dancers with box bodies
crossing in depth, seen by one camera. Writes, for the first pose frame,

- docs/scail2_pose.png: the SCAIL skeleton frame (the driving video),
- docs/scail2_mesh.png: the same frame as mesh driving draws it (``--driving mesh``),
- docs/scail2_mask.png: its driving mask (animation mode: identity colours on black),
- docs/scail2_reference.png and docs/scail2_reference_mask.png: the reference rendered from the
  scene (Workbench) and its mask (animation mode: identity colours on white).

Everything goes through the same code as `scail render-pose --blend` and the panel. Run it with
a Python that has the bpy module (the project's venv): ``python tools/scail2_pictures.py
[--out docs]``. Each PNG is a few tens of kilobytes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import bpy
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from scail_blender.blender.blend_file import render_blend_reference  # noqa: E402
from scail_blender.blender.props import ensure_registered  # noqa: E402
from scail_blender.blender.scene_render import plan_pose_render, render_pose_video  # noqa: E402
from scail_blender.media.video import read_video  # noqa: E402
from tools.demo_scene import add_camera, add_rigify_dancer, box_body, empty_scene  # noqa: E402

SIZE = (256, 448)  # height, width: a model size (multiples of 32) in the camera's shape
FRAMES = (1, 9)


def build_scene() -> bpy.types.Scene:
    scene = empty_scene()
    scene.render.fps, scene.render.fps_base = 16, 1.0
    scene.frame_start, scene.frame_end = FRAMES
    scene.render.resolution_x, scene.render.resolution_y = SIZE[1], SIZE[0]
    for name, location, phase in (("Hero", (-0.7, 0.0, 0.0), 0.0), ("Extra", (0.8, 1.2, 0.0), 2.0)):
        box_body(scene, add_rigify_dancer(scene, name, location, phase=phase, frames=FRAMES), thickness=0.18,
                 minimum=0.04)
    lamp = bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "SUN"))
    scene.collection.objects.link(lamp)
    add_camera(scene, lens=55.0)
    return scene


def first_frame(path: Path) -> np.ndarray:
    return next(iter(read_video(path)))


def save(pixels: np.ndarray, path: Path) -> None:
    Image.fromarray(pixels).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default docs/)")
    args = parser.parse_args()
    ensure_registered()
    scene = build_scene()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plan = plan_pose_render(scene, work / "pose.mp4", size=SIZE, fps=16, add_strip=False,
                                mask_out=work / "mask.mp4")
        files = render_pose_video(plan)
        mesh = render_pose_video(plan_pose_render(scene, work / "mesh.mp4", size=SIZE, fps=16, add_strip=False,
                                                  driving="mesh"))
        save(first_frame(files.video), args.out / "scail2_pose.png")
        save(first_frame(mesh.video), args.out / "scail2_mesh.png")
        save(first_frame(files.mask), args.out / "scail2_mask.png")  # lossless: the exact colours
        render_blend_reference(plan, work / "ref.png", work / "ref_mask.png", engine="WORKBENCH", report=print)
        save(np.asarray(Image.open(work / "ref.png").convert("RGB")), args.out / "scail2_reference.png")
        save(np.asarray(Image.open(work / "ref_mask.png").convert("RGB")), args.out / "scail2_reference_mask.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
