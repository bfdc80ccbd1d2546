"""The torch engine: networks, checkpoints, samplers, guidance, speed modes and the pipeline.

Only the runner's pipeline factory and the commands that compute reach in here; the torch-free
``jobs/`` package carries jobs to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pipeline import ScailPipeline


def load_pipeline(checkpoint: Path, device: str | None) -> ScailPipeline:
    """The runner's pipeline factory; torch is imported here, when a job first needs the model,
    so a server or an add-on that only starts a runner stays quick and torch-free until then."""
    from .pipeline import ScailPipeline

    return ScailPipeline(checkpoint, device)
