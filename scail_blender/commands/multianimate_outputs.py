"""``scail render-pose --dwpose-out --character-masks-out``: MultiAnimate's inputs written beside
the pose render, from the render's own joints and labels or from a motion's detected keypoints."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:  # the render modules load inside the command, so `scail --help` stays instant
    from ..motion.model import Motion
    from ..pose.outputs import PoseFiles


def load_motion_file(path: str):
    """The motion readers, imported here so ``scail --help`` stays instant."""
    from ..motion import load_motion

    return load_motion(path)


def draws_detected(args: argparse.Namespace, motion) -> bool:
    """Whether --dwpose-out draws the motion's detected keypoints (see EPILOG), refusing what
    cannot be drawn that way before anything is rendered."""
    if not args.dwpose_out:
        return False
    if args.dwpose_source == "reprojected" or (args.dwpose_source in (None, "auto") and motion.keypoints2d is None):
        return False
    if motion.keypoints2d is None:
        raise InputError(f"--dwpose-source detected: {args.motion} has no detected DWPose keypoints (only `scail "
                         "extract` records them, in .npz); extract the video again, or give --dwpose-source "
                         "reprojected")
    if args.intrinsics is not None:
        raise InputError("--intrinsics moves only the 3D camera; the detected keypoints are pixels of the video and "
                         "cannot follow it: drop --intrinsics, or give --dwpose-source reprojected")
    return True


@contextlib.contextmanager
def multianimate_joints(args: argparse.Namespace, detected: bool = False) -> Iterator[str | None]:
    """The joints file path the render writes: the user's, or with --dwpose-out a temporary one
    the MultiAnimate skeletons are drawn from (``write_multianimate``), removed after; none is
    needed when the ``detected`` keypoints are drawn."""
    if not args.dwpose_out or args.joints_out or detected:
        yield args.joints_out
        return
    with tempfile.TemporaryDirectory(prefix="scail-multianimate-") as temp:
        yield str(Path(temp) / "joints.npz")


def write_multianimate(args: argparse.Namespace, joints_out: str | None, files: PoseFiles, masks: list[Path],
                       detected: Motion | None = None) -> None:
    """--dwpose-out and reference_pose.png from the render's joints, beside the character ``masks``
    the render wrote; or, from the framed motion ``detected`` when its detected keypoints are
    drawn, the skeletons and the box masks too. If that fails the render's own outputs go too
    (masks included), so a run leaves all of its outputs or none."""
    if not args.dwpose_out:
        return
    from ..motion.multianimate_inputs import write_multianimate_inputs

    try:
        motion = detected if detected is not None else load_motion_file(joints_out)
        written = write_multianimate_inputs(motion, masks, args.dwpose_out, args.character_masks_out,
                                            detected=detected is not None)
    except BaseException:
        files.remove()
        for path in (args.joints_out, args.mask_out):
            if path:
                Path(path).unlink(missing_ok=True)
        raise
    kind = "detected DWPose keypoints" if detected is not None else "reprojected joints"
    boxes = "box " if detected is not None else ""
    print(f"wrote {written.dwpose} (MultiAnimate skeletons from {kind}), {len(written.masks)} character {boxes}masks "
          f"and {written.reference_pose.name} in {args.character_masks_out}: scail generate " +
          " ".join(f"--character-mask {path}" for path in written.masks) + f" --reference-pose {written.reference_pose}")
