"""``scail render-pose --dwpose-out --character-masks-out``: MultiAnimate's inputs written beside
the pose render, from the render's own joints and mask or from a motion's detected keypoints."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import InputError


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
def multianimate_sources(args: argparse.Namespace, detected: bool = False
                         ) -> Iterator[tuple[str | None, str | None]]:
    """The driving mask and joints file paths the render writes: the user's, or with --dwpose-out
    temporary ones the MultiAnimate inputs are made from (``write_multianimate``), removed after;
    none are needed when the ``detected`` keypoints are drawn."""
    if not args.dwpose_out or detected:
        yield args.mask_out, args.joints_out
        return
    with tempfile.TemporaryDirectory(prefix="scail-multianimate-") as temp:
        yield args.mask_out or str(Path(temp) / "mask.mp4"), args.joints_out or str(Path(temp) / "joints.npz")


def write_multianimate(args: argparse.Namespace, mask_out: str | None, joints_out: str | None,
                       undo: list[Callable[[], None]], detected=None) -> None:
    """--dwpose-out and --character-masks-out from the render's mask and joints, or from the framed
    motion ``detected`` when its detected keypoints are drawn; if that fails the render's own
    outputs go too (``undo``), so a run leaves all of its outputs or none."""
    if not args.dwpose_out:
        return
    from ..motion.multianimate_inputs import write_multianimate_inputs

    try:
        motion = detected if detected is not None else load_motion_file(joints_out)
        files = write_multianimate_inputs(motion, mask_out, args.dwpose_out, args.character_masks_out,
                                          detected=detected is not None)
    except BaseException:
        for step in undo:
            step()
        for path in (args.joints_out, args.mask_out):
            if path:
                Path(path).unlink(missing_ok=True)
        raise
    kind = "detected DWPose keypoints" if detected is not None else "reprojected joints"
    masks = "box masks" if detected is not None else "masks"
    print(f"wrote {files.dwpose} (MultiAnimate skeletons from {kind}), {len(files.masks)} character {masks} and "
          f"{files.reference_pose.name} in {args.character_masks_out}: scail generate " +
          " ".join(f"--character-mask {path}" for path in files.masks) + f" --reference-pose {files.reference_pose}")
