"""The Ray actor of ``scail serve --ray``: one per GPU (or GPU group), keeping the shared runner
and its loaded model for its whole life.

It runs a job from its files' bytes (the server's data dir need not be shared with the node) and
streams back every status, the last one with the result's bytes; a cancel comes in on a second
actor thread, so it is not queued behind the running job.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray

from scail_blender.engine import load_pipeline
from scail_blender.jobs.contract import Job
from scail_blender.jobs.references import (CHARACTER_MASK_FIELDS, EXTRA_FILE_FIELDS, character_masks_from_files,
                                           extra_references_from_files)
from scail_blender.jobs.runner import JobHandle, LocalRunner
from scail_blender.jobs.status import JobStatus

# The job's files an actor is sent (by JobInputs field; each LoRA of the stack as LORA_KEY + its
# name) and the name of the result it sends back.
INPUT_FIELDS = ("reference_image", "pose_video", "reference_mask", "pose_mask", "reference_pose")
LORA_KEY = "lora:"
RESULT_NAME = "result.mp4"


class ScailWorker:
    """Keeps one ``LocalRunner`` (and its loaded model) for the life of the actor."""

    def __init__(self, checkpoint: str, device: str | None) -> None:
        self.runner = LocalRunner(checkpoint, device, pipeline_factory=load_pipeline)
        self._handles: dict[str, JobHandle] = {}
        self._lock = threading.Lock()

    def ping(self) -> dict[str, Any]:
        """Where the actor runs (the server logs it; tests use the pid)."""
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    def run(self, job_id: str, job: dict[str, Any], files: dict[str, tuple[str, bytes]]
            ) -> Iterator[tuple[dict[str, Any], bytes | None]]:
        """Run one job from its files' bytes; yields every status, the last one with the result bytes."""
        with tempfile.TemporaryDirectory(prefix=f"scail-{job_id}-") as tmp:
            folder = Path(tmp)
            paths: dict[str, Any] = {**dict.fromkeys(INPUT_FIELDS), "lora_files": {}}
            for name, (filename, data) in files.items():  # the server's names: no two alike
                (folder / filename).write_bytes(data)
                if name.startswith(LORA_KEY):
                    paths["lora_files"][name[len(LORA_KEY):]] = str(folder / filename)
                else:
                    paths[name] = str(folder / filename)
            extra = {name: paths.pop(name) for name in EXTRA_FILE_FIELDS if name in paths}
            images, masks = extra_references_from_files(extra)
            characters = character_masks_from_files({n: paths.pop(n) for n in CHARACTER_MASK_FIELDS if n in paths})
            local = Job.from_dict(job)
            local = Job(inputs=replace(local.inputs, **paths, extra_references=images, extra_reference_masks=masks,
                                       character_masks=characters),
                        settings=local.settings,
                        output=str(folder / RESULT_NAME))
            updates: queue.Queue[JobStatus] = queue.Queue()
            handle = self.runner.submit(local, job_id, listener=updates.put)
            with self._lock:
                self._handles[job_id] = handle
            try:
                while not (status := updates.get()).final:
                    yield status.to_dict(), None
                data = Path(status.result.output).read_bytes() if status.result is not None else None
                yield status.to_dict(), data
            finally:  # also when the server stopped listening: the runner must not keep computing
                handle.cancel()
                with self._lock:
                    self._handles.pop(job_id, None)

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            handle = self._handles.get(job_id)
        if handle is not None:
            handle.cancel()
        return handle is not None

    def release(self) -> bool:
        return self.runner.release()

    def loaded(self) -> bool:
        return self.runner.loaded
