"""The torch engine: networks, checkpoints, samplers, guidance, speed modes and the pipeline.

Only the runner's pipeline factory and the commands that compute reach in here; the torch-free
``jobs/`` package carries jobs to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .multianimate.jobs import MultiAnimateJobPipeline
    from .pipeline import ScailPipeline


def load_pipeline(checkpoint: Path, device: str | None, components: str | Path | None = None
                  ) -> ScailPipeline | MultiAnimateJobPipeline:
    """The runner's pipeline factory: the pipeline of the checkpoint's model, told from its files (a
    MultiAnimate checkpoint folder, else a SCAIL-Preview or SCAIL-2 DiT); each checks a job's inputs
    for its model before it loads anything. ``components``: a SCAIL DiT file's VAE, umT5 and CLIP, or
    MultiAnimate's Wan2.1-I2V base folder (default: beside the checkpoint). torch is imported here,
    when a job first needs the model, so a server or an add-on that only starts a runner stays quick
    and torch-free until then."""
    from ..jobs.weights.identify import is_multianimate_folder

    if is_multianimate_folder(checkpoint):
        from .multianimate.jobs import MultiAnimateJobPipeline

        return MultiAnimateJobPipeline(checkpoint, device, base=components)
    from .pipeline import ScailPipeline

    return ScailPipeline(checkpoint, device, components=components)
