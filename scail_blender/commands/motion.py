"""``scail motion``: look into motion files and convert between their formats."""

from __future__ import annotations

import argparse

from .common import fps_arg

DESCRIPTION = """\
Motion files: NLF results (.npz, .pt, .pkl as NLF, ComfyUI and SCAIL-Pose save them), the GLB of
ComfyUI-SCAIL-Pose's "Save NLF Poses as 3D" node, and scail-blender's own .npz and skinned .glb.

  info FILE         what is in the file: frames, fps, people, camera, and what the reader had to
                    assume or could not recover
  convert IN OUT    write IN as OUT (.npz keeps everything; .glb is a skinned, animated SMPL
                    skeleton per person with a body mesh and the camera, for any 3D tool)
"""

EPILOG = """\
convert writes OUT under a hidden name beside it and renames it at the end, so a failed or
cancelled run leaves nothing. Refused before reading: OUT equal to IN (or --smpl-model), OUT
that is a folder, device or socket, and an unwritable folder; an existing OUT file is replaced.
Sizes are height x width (image size 512x896: 512 high x 896 wide).

examples:
  scail motion info nlf_pose_3d_20260101.glb
  scail motion convert results.pkl dance.npz --fps 24
  scail motion convert dance.npz dance.glb --smpl-model ~/models/SMPL_NEUTRAL.pkl
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "motion", help="inspect and convert motion files (NLF, ComfyUI GLB, npz, GLB)",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="motion_command", metavar="ACTION")
    sub.required = True
    info = sub.add_parser("info", help="describe a motion file")
    info.add_argument("file", metavar="FILE")
    info.add_argument("--fps", type=fps_arg, help="frame rate to assume when the file has none")
    info.set_defaults(run=run_info)
    convert = sub.add_parser("convert", help="convert a motion file to .npz or .glb")
    convert.add_argument("input", metavar="IN", help=".npz, .pt, .pth, .pkl or .glb")
    convert.add_argument("output", metavar="OUT", help=".npz or .glb")
    convert.add_argument("--fps", type=fps_arg, help="frame rate of IN when it has none, or to override it")
    convert.add_argument("--smpl-model", metavar="FILE",
                         help="your SMPL model (.pkl or .npz): the GLB gets the SMPL body mesh instead of capsules")
    convert.set_defaults(run=run_convert)


def run_info(args: argparse.Namespace) -> int:
    from ..motion import read_motion
    from ..pose.framing import size_text

    loaded = read_motion(args.file, fps=args.fps)
    motion = loaded.motion
    present = motion.present()
    print(f"{args.file}: {loaded.kind}")
    print(f"  frames: {motion.frames} at {motion.fps:g} fps ({motion.frames / motion.fps:.2f} s)")
    names = motion.person_ids or [f"person {p + 1}" for p in range(motion.people)]
    print(f"  people: {motion.people}")
    for p, name in enumerate(names):
        print(f"    {name}: in {int(present[:, p].sum())} of {motion.frames} frames")
    if motion.intrinsics is not None:
        k = motion.intrinsics
        print(f"  camera: fx={k.fx:.2f} fy={k.fy:.2f} cx={k.cx:.2f} cy={k.cy:.2f}")
    else:
        print("  camera: not recorded (NLF's 55-degree default is used)")
    print(f"  image size: {size_text(motion.image_size) if motion.image_size else 'not recorded'}")
    extras = [name for name, value in (("hands", motion.hands), ("head marks", motion.head_marks),
                                       ("SMPL parameters", motion.smpl),
                                       ("detected DWPose keypoints", motion.keypoints2d)) if value is not None]
    print(f"  also: {', '.join(extras) if extras else 'nothing else'}")
    if motion.source:
        print(f"  source: {motion.source}")
    for note in loaded.notes:
        print(f"  note: {note}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..motion import read_motion, save_motion
    from ..motion.smpl import load_body_model
    from ..outputs import check_outputs

    check_outputs({"OUT": args.output}, inputs={"IN": args.input, "--smpl-model": args.smpl_model})
    out = args.output.lower()
    if not out.endswith((".npz", ".glb")):
        raise InputError(f"{args.output}: convert writes .npz or .glb")
    if args.smpl_model and not out.endswith(".glb"):
        raise InputError("--smpl-model only applies to .glb output (npz files hold no mesh)")
    body = load_body_model(args.smpl_model) if args.smpl_model else None
    loaded = read_motion(args.input, fps=args.fps)
    save_motion(loaded.motion, args.output, body=body)
    motion = loaded.motion
    print(f"wrote {args.output}: {motion.frames} frames at {motion.fps:g} fps, {motion.people} people")
    if out.endswith(".glb"):
        dropped = [name for name, value in (("hands", motion.hands), ("head marks", motion.head_marks),
                                            ("SMPL parameters", motion.smpl),
                                            ("detected DWPose keypoints", motion.keypoints2d)) if value is not None]
        if dropped:
            print(f"note: the GLB does not keep {', '.join(dropped)}; convert to .npz to keep them")
    for note in loaded.notes:
        print(f"note: {note}")
    return 0
