"""An ``ExtractJob`` run: the extraction pipeline, then the motion written where the job says.

Kept apart from the runner so that the runner stays free of onnxruntime and torch: this module
is imported when the first extraction job starts. The networks are loaded per job; they are
small next to the DiT and a job's video decoding dominates its time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..extract import ExtractOptions, extract_motion
from ..motion.model import save_motion_npz
from ..progress import Progress, check_cancel
from .contract import ExtractJob, ExtractResult


def run_extraction(job: ExtractJob, on_progress: Callable[[Progress], None],
                   cancel: threading.Event) -> ExtractResult:
    """Extract the job's video and write its motion .npz; Cancelled before anything is written."""
    start = time.monotonic()
    s = job.settings
    options = ExtractOptions(weights=job.weights, device=s.device, people=s.people, smooth=s.smooth,
                             align_ref=job.align_ref, full_frame=s.full_frame)
    extraction = extract_motion(job.video, options, progress=on_progress, cancel=cancel)
    check_cancel(cancel)
    on_progress(Progress("write", 0, 1, "writing the motion"))
    motion = extraction.motion
    save_motion_npz(motion, job.output)
    on_progress(Progress("write", 1, 1, "wrote the motion"))
    return ExtractResult(output=job.output, frames=motion.frames, people=motion.people, fps=motion.fps,
                         seconds=time.monotonic() - start, notes=list(extraction.notes))
