"""Following one server job to its end: the one loop ``scail submit`` and Blender share.

The server keeps its jobs across restarts, so the loop rides out a dropped connection or a
restarting server (``ScailClient.events`` asks again for ``patience`` seconds) and fetches the
result the same way. The final status a caller sees names the downloaded file, not the server's
URL, so a follower treats a server job's result exactly like one computed in its own process.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from .client import FOLLOW_PATIENCE_S, ScailClient
from .status import JobStatus, Listener


def follow(client: ScailClient, job_id: str, listener: Listener, result_path: str | os.PathLike | None = None,
           patience: float = FOLLOW_PATIENCE_S) -> JobStatus:
    """Pass every status of ``job_id`` to ``listener`` until the job ends and return the last one.

    On success the result is downloaded to ``result_path`` first (when given), and the final
    status, passed on last, names that file. Errors of the server or the network after
    ``patience`` are raised (``ScailError``): the caller decides what a lost job means to it.
    """
    final: JobStatus | None = None
    for status in client.events(job_id, patience):
        if status.final:
            final = status
            break
        listener(status)
    assert final is not None  # events() ends only on a final status or by raising
    if final.state == "succeeded" and final.result is not None and result_path is not None:
        saved = client.download(job_id, result_path)
        final = replace(final, result=replace(final.result, output=str(Path(saved))))
    listener(final)
    return final
