"""The three official SCAIL-Pose weight files and where their users get them.

The files are licensed by their authors and never shipped with this project; a missing file
is reported with the download the official SCAIL-Pose README gives and the licence, so the
user can decide and fetch it once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

WEIGHTS_ENV = "SCAIL_POSE_WEIGHTS"
NLF_FILE = "nlf_l_multi_0.3.2.torchscript"
DWPOSE_FILE = "DWPose/dw-ll_ucoco_384.onnx"
YOLOX_FILE = "DWPose/yolox_l.onnx"

# file -> (where the official SCAIL-Pose instructions download it, licence)
SOURCES = {
    NLF_FILE: ("https://github.com/isarandi/nlf/releases/download/v0.3.2/nlf_l_multi_0.3.2.torchscript",
               "NLF weights: non-commercial research use only"),
    DWPOSE_FILE: ("https://huggingface.co/yzd-v/DWPose/resolve/main/dw-ll_ucoco_384.onnx",
                  "DWPose: Apache-2.0"),
    YOLOX_FILE: ("https://huggingface.co/yzd-v/DWPose/resolve/main/yolox_l.onnx", "YOLOX: Apache-2.0"),
}


@dataclass(frozen=True)
class WeightFiles:
    nlf: Path
    dwpose: Path
    yolox: Path


def find_weights(folder: str | os.PathLike | None = None) -> WeightFiles:
    """The weight files in ``folder`` (default: $SCAIL_POSE_WEIGHTS), laid out as SCAIL-Pose's
    ``pretrained_weights/``; one InputError names every missing file and its download."""
    if folder is None:
        folder = os.environ.get(WEIGHTS_ENV)
    if not folder:
        raise InputError(
            f"No pose weights folder: pass --weights DIR or set {WEIGHTS_ENV} to a folder holding "
            f"{NLF_FILE}, {DWPOSE_FILE} and {YOLOX_FILE} (SCAIL-Pose's pretrained_weights layout)"
        )
    root = Path(folder).expanduser()
    missing = [name for name in SOURCES if not (root / name).is_file()]
    if missing:
        parts = [f"{name} (download {SOURCES[name][0]}; {SOURCES[name][1]})" for name in missing]
        raise InputError(f"Pose weights missing in {root}: " + "; ".join(parts))
    log.debug("pose weights in %s", root)
    return WeightFiles(nlf=root / NLF_FILE, dwpose=root / DWPOSE_FILE, yolox=root / YOLOX_FILE)
