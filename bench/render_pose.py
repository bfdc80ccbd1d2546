"""Pose renderer throughput: ours vs the official-style sphere tracer, and memory flatness.

One process pinned to one CPU core (threads limited before numpy loads) renders the built-in
synthetic clips at 512x896: frames per second for one and two people, the reference tracer on a
few frames only (it is slow), their ratio (ours with marks vs the tracer without), and peak traced memory for 81 vs 243 frames.
``--renderer torch`` times the batched torch renderer instead (on the GPU when there is one).
End to end (``--end-to-end``, on by default): ``scail render-pose --motion`` of the 1-person clip
as a user runs it, timed from process start to the mp4 on disk (interpreter start-up, imports,
reading the file, rendering, H.264 encoding), with and without ``--frames-dir``; this child runs
on every core of the machine, as the command does.

    python bench/render_pose.py [--frames 81] [--renderer numpy|torch] [--reference-frames 2] [--no-end-to-end]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scail_blender.motion.model import Motion, save_motion_npz
from scail_blender.pose import synthetic
from scail_blender.pose.camera import Intrinsics
from scail_blender.pose.marks import Marks2D, project_marks
from scail_blender.pose.capsules import build_scene, check_joints, depth_range, joint_validity
from scail_blender.pose.render import render_clip
from scail_blender.pose.skeleton import palettes_for, smpl_to_scail
from tests.pose.reference_marcher import march_scene

H, W = 512, 896


def clip_joints(name: str, frames: int) -> np.ndarray:
    return check_joints(smpl_to_scail(synthetic.CLIPS[name](frames=frames).joints), "T, P")


def clip_marks(name: str, frames: int) -> list[list[Marks2D]]:
    clip = synthetic.CLIPS[name](frames=frames)
    camera = Intrinsics.default(H, W)
    people = range(clip.joints.shape[1])
    return [[project_marks(clip.head3d[t, p], clip.hands3d[t, p], camera) for p in people] for t in range(frames)]


def time_ours(joints: np.ndarray, marks: list[list[Marks2D]] | None, renderer: str, repeat: int) -> float:
    """Frames per second of the whole frame (capsules plus the 2D marks), mean over ``repeat`` clips.

    One untimed pass first: CUDA initialisation and the allocator's first growth are paid once per
    process, not per clip, so they are left out of the steady-state rate.
    """
    camera = Intrinsics.default(H, W)
    if renderer == "torch":
        sum(1 for _ in render_clip(joints, camera, (H, W), marks=marks, renderer=renderer))
    start = time.perf_counter()
    count = sum(sum(1 for _ in render_clip(joints, camera, (H, W), marks=marks, renderer=renderer))
                for _ in range(repeat))
    return count / (time.perf_counter() - start)


def time_reference(joints: np.ndarray, frames: int) -> float:
    camera = Intrinsics.default(H, W)
    valid, _ = joint_validity(joints)
    palettes = palettes_for(joints.shape[1])
    depth = depth_range(joints)
    step = max(1, len(joints) // frames)
    start = time.perf_counter()
    for t in range(0, step * frames, step):
        march_scene(build_scene(joints[t], valid[t], palettes), H, W, camera, depth)
    return frames / (time.perf_counter() - start)


def peak_memory(joints: np.ndarray, renderer: str) -> int:
    tracemalloc.start()
    for _ in render_clip(joints, Intrinsics.default(H, W), (H, W), renderer=renderer):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def time_end_to_end(frames: int, renderer: str, repeat: int) -> dict[str, float]:
    """Median wall seconds of the whole command, process start to mp4 on disk, per variant."""
    clip = synthetic.CLIPS["walking"](frames=frames)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(var, None)  # the command as a user runs it
    times: dict[str, list[float]] = {"mp4": [], "mp4 + frames folder": []}
    with tempfile.TemporaryDirectory() as tmp:
        motion = Path(tmp) / "walk.npz"
        save_motion_npz(Motion(joints=clip.joints, fps=16.0, hands=clip.hands3d, head_marks=clip.head3d,
                               image_size=(H, W)), motion)
        for _ in range(repeat):
            for label, extra in (("mp4", []), ("mp4 + frames folder", ["--frames-dir", str(Path(tmp) / "frames")])):
                out = Path(tmp) / "pose.mp4"
                out.unlink(missing_ok=True)
                cmd = [sys.executable, "-m", "scail_blender.cli", "render-pose", "--motion", str(motion),
                       "--out", str(out), "--size", f"{H}x{W}", "--renderer", renderer, *extra]
                start = time.perf_counter()
                subprocess.run(cmd, env=env, cwd=tmp, check=True, capture_output=True)
                elapsed = time.perf_counter() - start
                if not out.is_file():
                    raise RuntimeError(f"{' '.join(cmd)} wrote no mp4")
                times[label].append(elapsed)
    return {label: statistics.median(values) for label, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--renderer", choices=("numpy", "torch"), default="numpy")
    parser.add_argument("--repeat", type=int, default=3, help="timed clips per measurement (mean)")
    parser.add_argument("--reference-frames", type=int, default=2,
                        help="frames the reference tracer renders per clip (0 skips it)")
    parser.add_argument("--end-to-end", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the whole `scail render-pose --motion` command (default on)")
    args = parser.parse_args()
    if args.end_to_end:
        # Before pinning this process: the command gets the machine's cores as a user's would.
        whole = time_end_to_end(args.frames, args.renderer, args.repeat)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if hasattr(os, "getloadavg"):  # other work on the machine slows every number below
            print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for label, seconds in whole.items():
            print(f"end to end, 1 person, {label}: {seconds:.2f} s for {args.frames} frames = "
                  f"{args.frames / seconds:.1f} frames/s (median of {args.repeat}, {cores} cores)")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"{H}x{W}, {args.frames} frames, renderer {args.renderer}, cores {len(os.sched_getaffinity(0))}")
    for label, name in (("1 person", "walking"), ("2 people", "crossing")):
        joints = clip_joints(name, args.frames)
        bare = time_ours(joints, None, args.renderer, args.repeat)
        ours = time_ours(joints, clip_marks(name, args.frames), args.renderer, args.repeat)
        line = f"{label}: ours {ours:8.1f} fps with 2D marks, {bare:8.1f} fps capsules only"
        if args.reference_frames > 0:
            ref = time_reference(joints, args.reference_frames)
            line += f" | reference tracer {ref:6.3f} fps | ratio {ours / ref:8.0f}x"
        print(line)
    if args.renderer == "numpy":
        short, long = (peak_memory(clip_joints("crossing", n), "numpy") for n in (81, 243))
        print(f"peak traced memory: 81 frames {short / 2**20:.1f} MiB, 243 frames {long / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
