"""Render Pose Video's whole path against the renderer alone, on the same joints.

81 pose frames (SCAIL's clip) of a Rigify dancer at 512x896 go through what the panel's
operator runs: joint extraction frame by frame on the "main thread", rendering and encoding
in the worker, the scene-rate Sequencer copy and the strip. The renderer alone then renders
the very joints that were extracted (saved with --joints-out) without writing anything.
Prints both times, the ratio (target: at most 1.5) and where the rest of the time went.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _measure(scene, size: tuple[int, int], renderer: str):
    """(operator path s, of which reading joints s, renderer s, renderer + mp4 s, files) for one run."""
    from scail_blender.motion.model import load_motion_npz
    from scail_blender.operators.render_pose import TICK_S
    from scail_blender.motion.pose_video import frame_motion, motion_frames, write_pose_video
    from scail_blender.blender.scene_render import PoseRenderJob, plan_pose_render

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plan = plan_pose_render(scene, out / "pose.mp4", size=size, fps=16, joints_out=out / "joints.npz",
                                renderer=renderer)
        job = PoseRenderJob(plan)
        start = time.perf_counter()
        files, read_s = None, None
        while files is None:
            # As the modal operator: ticks of TICK_S, with Blender idle in between once the
            # worker runs (the timer fires every TICK_S).
            files = job.tick(budget_s=TICK_S)
            if job.progress >= 0.5:
                read_s = read_s or time.perf_counter() - start
                if files is None:
                    time.sleep(TICK_S)
        whole = time.perf_counter() - start

        motion = frame_motion(load_motion_npz(out / "joints.npz"))
        start = time.perf_counter()
        for _ in motion_frames(motion, renderer=renderer):
            pass
        render = time.perf_counter() - start
        start = time.perf_counter()
        write_pose_video(motion, out / "cli.mp4", renderer=renderer)
        render_encode = time.perf_counter() - start
    return whole, read_s, render, render_encode, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--size", default="512x896", help="HxW (default 512x896)")
    parser.add_argument("--renderer", default="numpy", choices=("numpy", "torch", "auto"))
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is printed (default 3)")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))

    from tools.demo_scene import add_camera, add_rigify_dancer, empty_scene

    scene = empty_scene()
    scene.render.fps = 24
    scene.frame_start, scene.frame_end = 1, 1 + (args.frames - 1) * 24 // 16
    add_rigify_dancer(scene, "Dancer", frames=(scene.frame_start, scene.frame_end))
    add_camera(scene, location=(0.5, -3.8, 1.1), target=(0.0, 0.0, 0.95))

    runs = [_measure(scene, (height, width), args.renderer) for _ in range(args.repeat)]
    whole, read_s, render, render_encode = (statistics.median(run[i] for run in runs) for i in range(4))
    files = runs[-1][4]
    print(f"frames: {files.frames} pose frames at {height}x{width}, scene copy {files.strip_frames} frames; "
          f"median of {args.repeat} runs")
    print(f"operator path:             {whole:.2f} s (reading joints {read_s:.2f} s)")
    print(f"renderer only:             {render:.2f} s   ratio {whole / render:.2f}")
    print(f"renderer + mp4 (--motion): {render_encode:.2f} s   ratio {whole / render_encode:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
