"""``scail render-pose``: render a SCAIL pose video from a motion file or a .blend scene."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..errors import InputError
from ..pose.camera import Intrinsics
from ..outputs import check_outputs, check_space
from ..pose.framing import is_model_size, nearest_model_size, size_text
from ..pose.identity import MODES as MASK_MODES
from .common import fps_arg, size_arg, terminal_progress, warn
from .multianimate_outputs import draws_detected, load_motion_file, multianimate_joints, write_multianimate

DESCRIPTION = """\
Render the SCAIL pose video (coloured 3D capsules plus 2D face and hand marks, as the official
SCAIL-Pose renders it) from a motion file (--motion) or from the rigs of a .blend (--blend).

--motion takes any motion file `scail motion info` reads: NLF results (.npz, .pt, .pkl as NLF,
ComfyUI and SCAIL-Pose save them), a GLB (scail-blender's or ComfyUI-SCAIL-Pose's), or this .npz:
  joints3d_nonparam  float [T, P, 24, 3]  SMPL joint order, millimetres, OpenCV camera space
                                          (x right, y down, z forward); an all-zero person is
                                          missing in that frame; NaN/inf or values beyond 1 km
                                          are refused, naming key, frame and person
  intrinsics         float [3, 3]         optional pinhole matrix in pixels
  fps                scalar               optional, default 16
  image_size         int [2]              optional (H, W) the intrinsics refer to
  hands3d            float [T, P, 2, 21, 3]  optional left/right hand points (drawn as 2D marks)
  head3d             float [T, P, 5, 3]   optional nose, right eye, left eye, right ear, left ear
  keypoints2d        float [T, P, 133, 3] optional DWPose keypoints (x, y, score) `scail extract`
                                          detected, pixels of image_size; all NaN = not detected
Other keys are refused (NLF results are recognised by NLF's own keys). Without intrinsics the
camera is NLF's default: 55 degrees field of view on the larger image side, principal point at
the image centre. A clip in which nobody can be drawn (everyone missing, behind the camera or
outside the view in every frame) is an error; frames that show nobody are counted in a warning.

--blend opens the file with the bpy module and renders its active scene exactly as the
Blender panel's Render Pose Video does: the armatures named by --character, else the panel's
characters when it lists some, else the armatures that would render (visible in the view layer,
not disabled in renders, not in an excluded collection, not a Rigify metarig whose generated rig
is there, not an animation-only copy of a skinned armature) and map to the SCAIL skeleton; seen
through --camera (default: the scene camera), over --frame-range (default: the scene's range)
sampled at --fps. Bones are matched by name, then by hierarchy, then by structure alone (a
guess, reported); --bonemap gives a saved map instead. A report on stderr says which armatures
were used and skipped and why, and how the camera was framed. The .blend is only read.
"""

EPILOG = """\
SCAIL-2 masks: --mask-out MASK.mp4 also writes the driving mask of the render: every frame of
the pose video, same size, framing and rate, each character's silhouette filled with its
identity colour, flat (no anti-aliasing). With --blend a character's silhouette is its own
meshes (every mesh object its armature deforms or that is parented to it or its bones, with
all modifiers as evaluated at each frame, the viewport's subdivision levels) and its capsule
skeleton only when it has no mesh; with --motion it is the capsule skeleton. Nearer characters
hide farther ones pixel by pixel. Identities go left to right by where the characters are in the
first frame (people who appear later follow, in the order they appear) and keep their colour for
the whole clip: blue, red, green, magenta, cyan, yellow, then again. --mask-mode animation
(default) paints them on black, replacement on white, as SCAIL-2 reads them. The mask is H.264
in RGB at quantiser 0 (lossless): every pixel decodes to exactly its colour. Give it to
`scail generate --pose-mask` with the pose video.

SCAIL-2 mesh driving (--blend): --driving mesh draws the pose video as the characters' own meshes
(the same meshes as the mask: evaluated at each frame, nearer ones hiding farther ones) instead
of the skeleton: each triangle one flat grey by how squarely it faces the camera, on black;
a character without a mesh is its capsule silhouette in mid grey. Same frames, size, framing and
rate as a skeleton render; SCAIL-2 follows mesh renderings zero-shot. --palette does not apply.

SCAIL-2 references (--blend): --reference-out REF.png --reference-mask-out REF_MASK.png render the
same characters (their meshes only: other objects are hidden, lights kept) with a transparent
film, by default through the pose camera at the first pose frame and the pose size (what the
first driving frame shows); --reference-frame and --reference-camera pick another frame or
camera. --reference-engine eevee (default) or workbench; if it cannot render on this machine,
Cycles at 8 samples renders instead and the report says so. The mask comes from the render's
alpha, each character in the colour it has in the driving mask; --mask-mode animation paints it
on white (the reference over white), replacement on black (the reference composited onto black).
--extra-view front|side|back (repeatable) also renders turntable views around the characters
(cameras "SCAIL Side View"... kept in the saved file only when the panel makes them) as
REF_side.png and REF_side_mask.png beside REF.png, for `scail generate --extra-reference`.

MultiAnimate inputs: --dwpose-out DWPOSE.mp4 --character-masks-out DIR also write what `scail
generate` needs with a MultiAnimate checkpoint: DWPOSE.mp4, every character's 2D skeleton (body,
feet, hands; OpenPose colours and strokes as DWPose draws them, red and blue exchanged as its
OpenCV-written files hold them) on one black canvas, same frames,
size and rate as the pose video; DIR/character_1.mp4, character_2.mp4... one binary mask video per
character (white inside, lossless), numbered in identity order (left to right in the first frame,
later arrivals after, the order of the SCAIL-2 mask colours; with --blend from the meshes'
per-pixel silhouettes, nearer characters hiding farther ones), cut from the render's per-pixel
labels in the same pass, to give to --character-mask in that order; and DIR/reference_pose.png,
the first frame's skeletons, for --reference-pose. Up to 7 characters (the extended checkpoint's
limit; the standard one takes 3): --checkpoint DIR names the MultiAnimate folder the inputs are
for, and more characters than it takes are refused before rendering. (A SCAIL-2 --mask-out of
more than 6 characters repeats its colours from the seventh on, as SCAIL-2's palette does.)
From a video: a motion made by `scail extract` (.npz) also holds the DWPose 2D keypoints detected
in each frame, and --dwpose-source auto (the default) draws those: MultiAnimate was trained on
DWPose run on the video and drawn as is, not on reprojected 3D joints. Points scoring 0.3 or less
are left out, as DWPose's drawing does; --size reframes them with the same resize and centre
crop as the camera, --fps takes each frame's nearest detection; --intrinsics is refused (it
moves only the 3D camera). Footage has no segmentation, so the character masks are then the box
around each person's keypoints scoring above 0.3 (widened by 10%, larger boxes first: none vanishes
inside a nearer person's box), in the same left-to-right identity order: a working set at once;
better masks from a segmenter go to `scail generate --character-mask` instead. --dwpose-source
reprojected draws the 3D joints and capsule masks as for any motion; detected refuses a motion
without keypoints (a scene, NLF or GLB file, or an extraction from before they were kept).

outputs: nothing is written until the whole clip rendered; then --out, --joints-out and the
frames appear together (each is written beside its target under a hidden name and renamed), and
Ctrl-C or SIGTERM leaves nothing behind. Refused before any work: an output that is an input or
another output of the run, an existing folder/device/socket as --out or --joints-out, an
unwritable folder, a full disk, and a --frames-dir that already holds numbered frames
(00000.png...). --overwrite allows the latter: only the frames this run writes are replaced,
every other file in the folder stays. An existing regular file at --out/--joints-out is replaced.

size: --size HxW is height x width (512x896 is 512 high x 896 wide, landscape), else the
file's image_size, else 512x896. When --size differs from the file's
image_size, the file's camera follows a cover-and-centre-crop resize (as SCAIL resizes videos).
Sizes that are not multiples of 32 render (for previews) with a warning naming the nearest size
the model takes.
fps: --fps resamples the motion in time (interpolated), so it keeps its real speed.

--blend: --size defaults to SCAIL's size in the scene camera's orientation (512x896 for a
landscape or square render, 896x512 for a portrait one) and must be multiples of 32. A size of
another shape than the camera's render is never stretched: --framing sensor (default) frames it
as Blender renders that camera at that resolution (its sensor fit), --framing crop scales the
camera's picture to cover it and crops the centre (as SCAIL's preprocessing resizes videos);
the report line and --joints-out say which was used. --fps defaults to 16 and the animation is
sampled at sub-frame times, so a 24 fps scene keeps its real speed.

examples:
  scail render-pose --motion dance.npz --out pose.mp4
  scail render-pose --blend shot.blend --character Hero --frame-range 1:81 --out pose.mp4
  scail render-pose --motion dance.npz --out pose.mp4 --frames-dir frames/ --size 896x512 --fps 16
  scail render-pose --motion dance.npz --out pose.mp4 --joints-out rendered.npz
  scail render-pose --motion duet.npz --out pose.mp4 --mask-out mask.mp4 --mask-mode animation
  scail render-pose --blend shot.blend --out pose.mp4 --mask-out mask.mp4 --reference-out ref.png \
      --reference-mask-out ref_mask.png --extra-view side --extra-view back
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render-pose", help="render a SCAIL pose video from a motion file",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--motion", metavar="FILE", help="motion file (.npz, .pt, .pkl or .glb, see above)")
    source.add_argument("--blend", metavar="FILE.blend", help="render the rigs of this Blender file (needs bpy)")
    parser.add_argument("--character", metavar="NAME", action="append",
                        help="--blend: armature object to render (repeatable; default: every armature that maps)")
    parser.add_argument("--bonemap", metavar="FILE.json", action="append",
                        help="--blend: a saved bone map (the panel's Save Bone Map) for the armature named by the "
                             "--character in the same position, or for the only armature that would render "
                             "(repeatable)")
    parser.add_argument("--camera", metavar="NAME", help="--blend: camera object (default: the scene camera)")
    parser.add_argument("--framing", choices=("sensor", "crop"), default=None,
                        help="--blend: how the camera fits a --size of another shape than its render: "
                             "sensor (Blender's sensor fit, default) or crop (cover and centre-crop)")
    parser.add_argument("--frame-range", metavar="START:END", type=frame_range_arg,
                        help="--blend: scene frames to render, both included (default: the scene's range)")
    parser.add_argument("--out", metavar="POSE.mp4", required=True, help="H.264 mp4 to write")
    parser.add_argument("--frames-dir", metavar="DIR", help="also write the encoded frames as DIR/00000.png, 00001.png, ...")
    parser.add_argument("--joints-out", metavar="FILE.npz",
                        help="write the camera-space joints, intrinsics, size and fps actually rendered, "
                             "in the --motion format (rendering it again gives the same frames)")
    parser.add_argument("--mask-out", metavar="MASK.mp4",
                        help="also write the SCAIL-2 driving mask (identity colours, lossless; with --blend from the "
                             "characters' meshes; see below)")
    parser.add_argument("--mask-mode", choices=MASK_MODES, default=None,
                        help="--mask-out, --reference-mask-out: animation (driving mask on black, reference mask "
                             "on white; default) or replacement (the other way round)")
    parser.add_argument("--driving", choices=("skeleton", "mesh"), default=None,
                        help="--blend: what the pose video shows: the SCAIL skeleton (default) or the characters' own "
                             "meshes, flat-shaded grey on black, for SCAIL-2 mesh driving (see below)")
    parser.add_argument("--reference-out", metavar="REF.png",
                        help="--blend: also render the SCAIL-2 reference image of the characters (see below)")
    parser.add_argument("--reference-mask-out", metavar="REF_MASK.png",
                        help="--blend: the reference's identity mask (give with --reference-out)")
    parser.add_argument("--reference-frame", metavar="N", type=int,
                        help="--reference-out: scene frame to render (default: the first pose frame)")
    parser.add_argument("--reference-camera", metavar="NAME",
                        help="--reference-out: camera object (default: the pose camera)")
    parser.add_argument("--reference-engine", choices=("eevee", "workbench"), default="eevee",
                        help="--reference-out: render engine (default eevee)")
    parser.add_argument("--extra-view", choices=("front", "side", "back"), action="append", default=[],
                        help="--reference-out: also render this turntable view as an extra reference (repeatable)")
    parser.add_argument("--dwpose-out", metavar="DWPOSE.mp4",
                        help="MultiAnimate: also write every character's DWPose-style skeleton on one canvas (give "
                             "with --character-masks-out; see below)")
    parser.add_argument("--character-masks-out", metavar="DIR",
                        help="MultiAnimate: a new folder for one binary mask video per character, in identity order "
                             "(character_1.mp4...), and reference_pose.png (see below)")
    parser.add_argument("--dwpose-source", choices=("auto", "detected", "reprojected"), default=None,
                        help="--dwpose-out with --motion: draw the DWPose keypoints `scail extract` detected "
                             "(detected, with box masks) or the motion's 3D joints projected (reprojected); default "
                             "auto: detected when the motion has them (see below)")
    parser.add_argument("--checkpoint", metavar="DIR",
                        help="--character-masks-out: the MultiAnimate checkpoint folder the inputs are for; more "
                             "characters than it animates (3 or 7) are refused before rendering (default: 7)")
    parser.add_argument("--overwrite", action="store_true",
                        help="let --frames-dir replace the numbered frames already in it (nothing else is touched)")
    parser.add_argument("--size", metavar="HxW", type=size_arg,
                        help="frame size, height x width (512x896 is 512 high x 896 wide)")
    parser.add_argument("--fps", type=fps_arg, help="frame rate of the video, 1 to 120; the motion is resampled to it")
    parser.add_argument("--intrinsics", metavar="fx,fy,cx,cy", type=parse_intrinsics,
                        help="--motion: pinhole camera in pixels for the output size (overrides the file's)")
    parser.add_argument("--palette", choices=("preview", "scail2"), default="preview",
                        help="colour scheme: SCAIL-Preview's (one person: base colours) or SCAIL-2's "
                             "(a lone person gets the saturated palette); default preview")
    parser.add_argument("--renderer", choices=("auto", "numpy", "torch"), default="auto",
                        help="renderer: numpy on the CPU, torch (GPU when present); default auto")
    parser.set_defaults(run=run)


def frame_range_arg(text: str) -> tuple[int, int]:
    try:
        start, end = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not START:END, e.g. 1:81") from None
    return start, end


def parse_intrinsics(text: str) -> Intrinsics:
    try:
        fx, fy, cx, cy = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not fx,fy,cx,cy (four numbers)") from None
    try:
        return Intrinsics(fx, fy, cx, cy)
    except InputError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (fx,fy,cx,cy in pixels)") from None


def check_paths(args: argparse.Namespace, source: str):
    """The output policy, before anything is read or rendered (see EPILOG)."""
    if args.overwrite and not args.frames_dir:
        warn("--overwrite only concerns --frames-dir; without it, it changes nothing")
    if args.joints_out and not args.joints_out.lower().endswith(".npz"):
        raise InputError(f"--joints-out {args.joints_out}: the joints file is an .npz; end its name in .npz")
    if args.mask_mode and not (args.mask_out or args.reference_mask_out):
        raise InputError("--mask-mode says how to paint the --mask-out video; give --mask-out MASK.mp4 too")
    if bool(args.reference_out) != bool(args.reference_mask_out):
        raise InputError("--reference-out and --reference-mask-out go together: give both REF.png and REF_MASK.png")
    if args.dwpose_source and not args.dwpose_out:
        raise InputError("--dwpose-source says what --dwpose-out draws; give --dwpose-out DWPOSE.mp4 and "
                         "--character-masks-out DIR too")
    if bool(args.dwpose_out) != bool(args.character_masks_out):
        raise InputError("--dwpose-out and --character-masks-out go together: give both DWPOSE.mp4 and DIR")
    if args.checkpoint and not args.dwpose_out:
        raise InputError("--checkpoint says which MultiAnimate checkpoint the character masks are for; give "
                         "--dwpose-out DWPOSE.mp4 --character-masks-out DIR too")
    masks_dir = Path(args.character_masks_out) if args.character_masks_out else None
    if masks_dir is not None and masks_dir.exists() and (not masks_dir.is_dir() or any(masks_dir.iterdir())):
        raise InputError(f"--character-masks-out {masks_dir} exists and is not an empty folder; give a new folder")
    if not args.reference_out and (args.reference_frame is not None or args.reference_camera or args.extra_view):
        raise InputError("--reference-frame, --reference-camera and --extra-view say how to render the reference; "
                         "give --reference-out REF.png --reference-mask-out REF_MASK.png too")
    return check_outputs({"--out": args.out, "--joints-out": args.joints_out, "--mask-out": args.mask_out,
                          "--reference-out": args.reference_out, "--reference-mask-out": args.reference_mask_out,
                          "--dwpose-out": args.dwpose_out},
                         inputs={f"--{source}": getattr(args, source)}, frames={"--frames-dir": args.frames_dir},
                         overwrite=args.overwrite)


def estimated_bytes(frames: int, size: tuple[int, int], pngs: bool) -> int:
    """A generous guess of the outputs' size: H.264 pose frames are mostly black (about 1/50 of
    the raw pixels), PNGs about a tenth."""
    raw = frames * size[0] * size[1] * 3
    return raw // 50 + (raw // 10 if pngs else 0)


def report(files, size: tuple[int, int], fps: float, mask: str | None = None, mode: str | None = None) -> None:
    for line in files.warnings:
        warn(line)
    print(f"wrote {files.video} ({files.frames} frames, {size_text(size)}, {fps:g} fps)")
    if mask:
        print(f"wrote {mask} (SCAIL-2 {mode} driving mask, lossless)")


def run(args: argparse.Namespace) -> int:
    if args.blend:
        return run_blend(args)
    for flag in ("character", "camera", "frame_range", "framing", "bonemap", "reference_out", "driving"):
        if getattr(args, flag):
            raise InputError(f"--{flag.replace('_', '-')} applies to --blend only; a motion file has its own camera and frames")
    from ..motion.pose_video import frame_motion, write_pose_video

    checked = check_paths(args, "motion")
    motion = frame_motion(load_motion_file(args.motion), size=args.size, fps=args.fps, intrinsics=args.intrinsics)
    size = motion.image_size
    check_space(checked.files["--out"], estimated_bytes(motion.frames, size, bool(args.frames_dir)))
    if not is_model_size(size):
        near = nearest_model_size(size)
        warn(f"{size_text(size)} is fine for a preview but SCAIL needs multiples of 32; "
             f"the nearest size it takes is {size_text(near)} (--size {near[0]}x{near[1]})")
    mode = args.mask_mode or "animation"
    detected = draws_detected(args, motion)
    masks = []
    if args.dwpose_out:
        from ..jobs.characters import check_characters
        from ..motion.multianimate_inputs import character_mask_paths

        check_characters(motion.people, "render a motion file with fewer people", args.checkpoint)
        masks = character_mask_paths(args.character_masks_out, motion.people)
    with multianimate_joints(args, detected) as joints_out:
        result = write_pose_video(motion, args.out, frames_dir=args.frames_dir, joints_out=joints_out,
                                  scheme=args.palette, renderer=args.renderer, progress=terminal_progress(),
                                  mask_out=args.mask_out, mask_mode=mode, character_masks=None if detected else masks)
        write_multianimate(args, joints_out, result, masks, motion if detected else None)
    report(result, size, motion.fps, args.mask_out, mode)
    return 0


def run_blend(args: argparse.Namespace) -> int:
    """The rig path: the same scene code as the Blender panel, through the bpy module."""
    if args.intrinsics is not None:
        raise InputError("--intrinsics applies to --motion only; with --blend the scene camera decides")
    if args.dwpose_source == "detected":
        raise InputError("--dwpose-source detected draws the keypoints `scail extract` detected in a video; a "
                         ".blend scene has none (its skeletons are its rigs' joints)")
    try:
        from ..blender.blend_file import render_blend_file
    except ImportError as exc:
        if "bpy" not in str(exc):
            raise
        raise InputError("--blend needs Blender's Python module: pip install bpy==5.0.1 (Python 3.11)") from exc
    from ..rig.bonemap import load_bonemap

    check_paths(args, "blend")
    bonemaps = [load_bonemap(path) for path in args.bonemap or []]
    mode = args.mask_mode or "animation"
    with multianimate_joints(args) as joints_out:
        options = {"characters": args.character, "bonemaps": bonemaps, "camera": args.camera,
                   "frame_range": args.frame_range, "size": args.size, "framing": args.framing or "sensor",
                   "fps": args.fps or 16.0, "frames_dir": args.frames_dir, "joints_out": joints_out,
                   "scheme": args.palette, "renderer": args.renderer, "overwrite": args.overwrite,
                   "mask_out": args.mask_out, "mask_mode": mode, "driving": args.driving or "skeleton",
                   "character_masks": args.character_masks_out, "checkpoint": args.checkpoint}
        plan, files = render_blend_file(args.blend, args.out, report=lambda line: print(line, file=sys.stderr),
                                        **options)
        write_multianimate(args, joints_out, files, list(files.character_masks))
    views = write_blend_reference(args, plan, files, mode) if args.reference_out else []
    report(files, plan.size, options["fps"], args.mask_out, mode)
    if args.reference_out:
        print(f"wrote {args.reference_out} and {args.reference_mask_out} (SCAIL-2 {mode} reference and mask)")
    for image, mask in views:
        print(f"wrote {image} and {mask} (extra reference view)")
    return 0


def write_blend_reference(args: argparse.Namespace, plan, files, mode: str) -> list:
    """The --blend reference after the pose render (the file is still open); if it fails, the
    render's files go too, so a run leaves all of its outputs or none."""
    from ..blender.blend_file import render_blend_reference

    try:
        return render_blend_reference(plan, Path(args.reference_out), Path(args.reference_mask_out), mode=mode,
                                      frame=args.reference_frame, camera=args.reference_camera,
                                      engine=args.reference_engine.upper(), views=args.extra_view,
                                      report=lambda line: print(line, file=sys.stderr))
    except BaseException:
        files.remove()
        for path in (args.joints_out, args.mask_out, args.dwpose_out):
            if path:
                Path(path).unlink(missing_ok=True)
        if args.character_masks_out:  # a new or empty folder (check_paths)
            shutil.rmtree(args.character_masks_out, ignore_errors=True)
        raise

