"""`make demo`: a Rigify dancer filmed by a camera, rendered to a SCAIL pose video headless.

Builds the scene with the bpy module, renders the pose video through the same code as the
panel's Render Pose Video (so the strip lands in the Sequencer at the scene's rate), saves
the .blend next to the video and prints where everything is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="folder for scail_demo.blend and pose.mp4 (default: demo)")
    parser.add_argument("--frames", type=int, default=81, help="pose frames at 16 fps (default: 81, SCAIL's clip)")
    args = parser.parse_args(argv)

    import bpy

    import scail_blender
    from scail_blender.errors import ScailError
    from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
    from tools.demo_scene import add_camera, add_rigify_dancer, empty_scene

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    scail_blender.register()
    scene = empty_scene()
    scene.render.fps = 24
    scene.frame_start = 1
    scene.frame_end = 1 + (args.frames - 1) * 24 // 16
    rig = add_rigify_dancer(scene, "Dancer", frames=(scene.frame_start, scene.frame_end), full=True)
    add_camera(scene, location=(0.5, -3.8, 1.1), target=(0.0, 0.0, 0.95), lens=35.0)
    scene.scail.characters.add().armature = rig
    scene.scail.size_preset = "896x512"
    scene.render.resolution_x, scene.render.resolution_y = 512, 896
    blend = out / "scail_demo.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    print(f"scene built in {time.perf_counter() - started:.1f} s")

    scene = bpy.context.scene
    try:
        plan = plan_pose_render(scene, out / "pose.mp4", size=scene.scail.size(), fps=16,
                                frames_dir=out / "frames")
        files = render_pose_video(plan)
    except ScailError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    bpy.ops.wm.save_mainfile()
    print(f"pose video:  {files.video} ({files.frames} frames at 16 fps)")
    print(f"strip video: {files.strip_video} (scene rate, in the Sequencer at frame {scene.frame_start})")
    print(f"frames:      {files.frames_dir}")
    print(f"blend file:  {blend}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
