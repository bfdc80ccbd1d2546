"""``scail extract``: a driving video to a motion file (and optionally its pose video)."""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import InputError

log = logging.getLogger(__name__)

DESCRIPTION = """\
Extract the motion of the people in a video as the official SCAIL-Pose does: YOLOX-L person
boxes, DWPose whole-body keypoints (face and hands), NLF 3D joints; people keep their ids across
frames (crossing, leaving and coming back). Writes the motion .npz that `scail render-pose
--motion` reads (joints, camera, hands, face and head marks, and the detected DWPose 2D keypoints,
which `scail render-pose --dwpose-out` draws for MultiAnimate).

Weights: --weights DIR or $SCAIL_POSE_WEIGHTS, laid out as SCAIL-Pose's pretrained_weights:
  nlf_l_multi_0.3.2.torchscript   github.com/isarandi/nlf releases (non-commercial research only)
  DWPose/dw-ll_ucoco_384.onnx     huggingface.co/yzd-v/DWPose (Apache-2.0)
  DWPose/yolox_l.onnx             huggingface.co/yzd-v/DWPose (Apache-2.0)
"""

EPILOG = """\
examples:
  scail extract --video driving.mp4 --out motion.npz --weights pretrained_weights/
  scail extract --video driving.mp4 --out motion.npz --render pose.mp4 --align-ref ref.png
  scail extract --video duet.mp4 --out duet.npz --people 2 --smooth
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract", help="extract motion from a video (YOLOX + DWPose + NLF)",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--video", metavar="VIDEO", required=True, help="driving video (mp4, or a folder of PNG frames)")
    parser.add_argument("--out", metavar="MOTION.npz", required=True, help="motion file to write")
    parser.add_argument("--render", metavar="POSE.mp4",
                        help="also render the SCAIL pose video (512x896, or 896x512 unless the video is wider than tall)")
    parser.add_argument("--align-ref", metavar="IMAGE",
                        help="refit the camera so the first frame lands on this reference character")
    parser.add_argument("--people", type=int, metavar="N", help="keep the N people seen longest (default: all)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--weights", metavar="DIR", help="pose weights folder (default: $SCAIL_POSE_WEIGHTS)")
    parser.add_argument("--smooth", action="store_true", help="One-Euro smoothing (the official pipeline has none)")
    parser.add_argument("--full-frame", action="store_true",
                        help="extract from the whole frame at its own size; by default frames are resized to cover "
                             "512x896 (896x512 unless wider than tall) and centre-cropped, as SCAIL-Pose does")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..extract import ExtractOptions, extract_motion
    from ..motion.model import save_motion_npz
    from .render_pose import terminal_progress

    if not args.out.endswith(".npz"):
        raise InputError(f"--out {args.out}: the motion is written as .npz")
    options = ExtractOptions(weights=args.weights, device=args.device, people=args.people, smooth=args.smooth,
                             align_ref=args.align_ref, full_frame=args.full_frame)
    result = extract_motion(args.video, options, progress=terminal_progress())
    save_motion_npz(result.motion, args.out)
    motion = result.motion
    for note in result.notes:
        print(f"scail: {note}", file=sys.stderr)
    print(f"wrote {args.out} ({motion.frames} frames, {motion.people} people, {motion.fps:g} fps)")
    if args.render:
        from ..motion.pose_video import frame_motion, write_pose_video
        from ..pose.framing import pose_size_for

        files = write_pose_video(frame_motion(motion, size=pose_size_for(*motion.image_size)), args.render,
                                 progress=terminal_progress())
        print(f"wrote {files.video} ({files.frames} frames)")
    return 0
