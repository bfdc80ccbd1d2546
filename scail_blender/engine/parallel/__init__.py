"""One job on several GPUs of one host: CFG parallel x Ulysses sequence parallel.

- groups.py: how a forward is split (batch halves, sequence pieces) and the process groups;
- ulysses.py: the split forward of one ScailDiT (hooks + all-to-all around self-attention);
- ranks.py: the processes: rank 0 runs the job and drives the others' DiT forwards;
- launch.py: ``DeviceGroup``, which spawns the ranks and relays tasks, progress and failures;
- pipeline.py: ``ParallelPipeline``, ScailPipeline's contract on a ``DeviceGroup``.
"""

from .launch import DeviceGroup
from .pipeline import ParallelPipeline

__all__ = ["DeviceGroup", "ParallelPipeline"]
