"""``scail black-out``: footage as SCAIL-2's driving video, black outside its people."""

from __future__ import annotations

import argparse

from ..outputs import check_outputs

DESCRIPTION = """\
SCAIL-2 can be driven end to end by footage itself (the driving video is the footage, not a
pose render), and in replacement mode the footage is the plate whose people are replaced. This
writes FOOTAGE with every pixel outside its people set to black, the people being the pixels
of the driving mask --mask in an identity colour (blue, red, green, magenta, cyan, yellow, read
with the model's own > 225 threshold per channel), so one call serves animation masks (on
black) and replacement masks (on white). Give the result to `scail generate --pose` with the
same --pose-mask.
"""

EPILOG = """\
The mask is the footage's own: for footage rendered from a Blender scene, `scail render-pose
--blend shot.blend --out pose.mp4 --mask-out mask.mp4 --fps F --frame-range A:B --size HxW` over
the footage's frames, rate and size; else a mask made elsewhere. Refused before writing: a
size, rate or frame count that differs between the two, and an --out that is an input.

example:
  scail black-out footage.mp4 --mask mask.mp4 --out driving.mp4
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "black-out", help="SCAIL-2 end-to-end driving: footage black outside the people of its mask",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("footage", metavar="FOOTAGE.mp4", help="the driving footage (a video file)")
    parser.add_argument("--mask", metavar="MASK.mp4", required=True,
                        help="its SCAIL-2 driving mask (same frames, size and rate)")
    parser.add_argument("--out", metavar="DRIVING.mp4", required=True, help="H.264 mp4 to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..pose.footage import black_out_video

    check_outputs({"--out": args.out}, inputs={"FOOTAGE": args.footage, "--mask": args.mask})
    frames = black_out_video(args.footage, args.mask, args.out)
    print(f"wrote {args.out} ({frames} frames, black outside the people of {args.mask})")
    return 0
