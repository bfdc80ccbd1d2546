"""`make demo`: a Rigify dancer filmed by a camera, rendered to a SCAIL pose video headless.

Builds the scene with the bpy module, renders the pose video through the same code as the
panel's Render Pose Video (so the strip lands in the Sequencer at the scene's rate), saves
the .blend next to the video and prints where everything is. With a SCAIL checkpoint
(``--checkpoint`` or ``$SCAIL_CHECKPOINT``) it then presses the panel's Generate with the
"In Blender" backend (the same runner as everywhere) and saves the result strip into the .blend;
without one it says how to get one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NO_CHECKPOINT = """\
no SCAIL checkpoint given, so nothing was generated. To generate too, give one with
--checkpoint DIR or SCAIL_CHECKPOINT=DIR:
  - a tiny random one to try the path in a minute on a CPU (its video is noise):
      .venv/bin/scail make-test-checkpoint /tmp/scail-tiny
      make demo SCAIL_CHECKPOINT=/tmp/scail-tiny DEMO_ARGS="--steps 2 --gen-size 224x128 --frames 9"
  - the real models (a GPU with about 40 GB, or see "Speed modes" in README.md): the official
    SCAIL-Preview or SCAIL-2 folder from https://github.com/zai-org/SCAIL (Hugging Face downloads)"""

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo", help="folder for scail_demo.blend and pose.mp4 (default: demo)")
    parser.add_argument("--frames", type=int, default=81, help="pose frames at 16 fps (default: 81, SCAIL's clip)")
    parser.add_argument("--checkpoint", default=os.environ.get("SCAIL_CHECKPOINT") or None,
                        help="SCAIL checkpoint folder: also generate the animation (default: $SCAIL_CHECKPOINT)")
    parser.add_argument("--ref", help="reference image of the character to animate (default: the first pose frame, "
                        "a stand-in that only shows the path works)")
    parser.add_argument("--prompt", default="a person dances", help="prompt (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=40, help="denoising steps (default: %(default)s, the official)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    parser.add_argument("--gen-size", metavar="HxW", help="generate at this size instead of the pose video's "
                        "(same shape: e.g. 224x128 for the demo's 896x512 with a tiny checkpoint on a CPU)")
    args = parser.parse_args(argv)

    import bpy
    import addon_utils  # importable only once bpy is

    from scail_blender.errors import ScailError
    from scail_blender.blender.scene_render import plan_pose_render, render_pose_video
    from tools.demo_scene import add_camera, add_rigify_dancer, empty_scene

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    addon_utils.enable("scail_blender", default_set=True)  # as a user enables it: preferences included
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
    if args.checkpoint is None:
        print(NO_CHECKPOINT)
    else:
        try:
            strip = generate(args, files, out)
        except ScailError as exc:
            print(f"demo: error: {exc}", file=sys.stderr)
            return 2
        bpy.ops.wm.save_mainfile()
        print(f"animation:   {strip} (in the Sequencer above the pose strip)")
    print(f"blend file:  {blend}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def generate(args: argparse.Namespace, files, out: Path) -> str:
    """Generate as the panel's Generate button does, In Blender, and wait for the strip."""
    import bpy

    from scail_blender.blender import board, generate as panel_generate, prefs
    from scail_blender.errors import InputError
    from scail_blender.pose.framing import parse_size

    preferences = prefs.preferences()
    preferences.backend, preferences.checkpoint_dir = "IN_PROCESS", str(Path(args.checkpoint).resolve())
    settings = bpy.context.scene.scail
    ref = Path(args.ref) if args.ref else files.frames_dir / "00000.png"
    if not args.ref:
        print("reference:   the first pose frame, a stand-in (give --ref with your character's image)")
    settings.reference_image = bpy.data.images.load(str(ref.resolve()))
    settings.pose_source, settings.pose_file = "FILE", str(files.video)
    settings.prompt, settings.steps, settings.seed = args.prompt, args.steps, args.seed
    job, placement = panel_generate.job_from_panel(bpy.context)
    if args.gen_size:
        job.settings.height, job.settings.width = parse_size(args.gen_size)
    record = panel_generate.submit(bpy.context, job, placement)
    last = ""
    while not (record.final and (record.strip or record.error or record.status.state != "succeeded")):
        board.drain_until(lambda: True, 1.0)  # headless: no event loop fires the board's timer
        line = f"{record.status.state}: {record.line()} ({record.status.progress:.0%})"
        if line != last:
            print(line, flush=True)
            last = line
        time.sleep(0.5)
    if record.status.state != "succeeded" or not record.strip:
        raise InputError(f"generation {record.status.state}: {record.error or record.line()}")
    return f"{record.status.result.output} -> strip {record.strip!r}"


if __name__ == "__main__":
    sys.exit(main())
