"""What one server instance is: its checkpoint, device, address, data folder and limits.

A plain value built by ``scail serve`` (or a test) and passed into ``create_app``: the app reads
no environment and no globals, so two apps in one process never share state.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from scail_blender.errors import InputError

DEFAULT_PORT = 8188


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """Where the Ray cluster is and how its actors are cut: one actor per ``gpus_per_actor`` GPUs
    of the cluster by default; ``actors`` fixes the count (CPU-only clusters and tests need it)."""

    address: str  # "auto" (a cluster started on this machine) or HOST:PORT of the head's GCS
    actors: int | None = None
    gpus_per_actor: float = 1.0
    cpus_per_actor: float = 1.0
    poll_s: float = 10.0  # how often the cluster's resources are read for workers that joined

    def check(self) -> None:
        if self.actors is not None and self.actors < 1:
            raise InputError(f"--ray-actors {self.actors}: give at least 1, or leave it out for one per GPU")
        if self.actors is None and self.gpus_per_actor <= 0:
            raise InputError("--ray-gpus-per-actor 0 needs --ray-actors N: without GPUs the count cannot be derived")
        if self.gpus_per_actor < 0 or self.cpus_per_actor < 0:
            raise InputError("--ray-gpus-per-actor and --ray-cpus-per-actor cannot be negative")


@dataclass(frozen=True, kw_only=True)
class Settings:
    checkpoint: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    device: str | None = None  # None: cuda when available, else cpu
    max_upload_mb: int = 512  # one request, all files together
    keep_days: float | None = 7.0  # finished jobs older than this are deleted; None keeps all
    min_free_mb: int = 1024  # uploads are refused when they would leave less free disk than this
    pose_weights: Path | None = None  # SCAIL-Pose weights folder; None refuses extraction jobs
    lora_dir: Path | None = None  # the LoRAs jobs may name (GET /v1/loras); None: uploaded ones only
    max_pixels_frames: int | None = None  # height x width x frames of one job; None: from the device (limits.py)
    ray: ClusterSettings | None = None  # None: jobs run in this process (Ray is never imported)

    def check(self) -> None:
        """Refuse settings that would expose the GPU or cannot work."""
        if not is_loopback(self.host) and not self.token:
            raise InputError(f"binding {self.host} lets other machines use this GPU; start with --token SECRET "
                             "(clients send it as 'Authorization: Bearer SECRET') or bind 127.0.0.1")
        if self.token is not None and len(self.token) < 8:
            raise InputError("--token is shorter than 8 characters; use a long random one, e.g. from "
                             "`python -c 'import secrets; print(secrets.token_urlsafe())'`")
        if self.max_upload_mb < 1:
            raise InputError(f"--max-upload-mb {self.max_upload_mb}: give at least 1")
        if self.keep_days is not None and self.keep_days <= 0:
            raise InputError(f"--keep-days {self.keep_days}: give a positive number of days")
        if self.min_free_mb < 0:
            raise InputError(f"--min-free-space {self.min_free_mb} MB: give 0 or more, e.g. 1GB")
        if self.lora_dir is not None and not self.lora_dir.is_dir():
            raise InputError(f"--lora-dir {self.lora_dir} is not a folder; give the folder of the .safetensors "
                             "LoRAs jobs may name")
        if self.max_pixels_frames is not None and self.max_pixels_frames < 1:
            raise InputError(f"--max-pixels-frames {self.max_pixels_frames}: give at least 1, or leave it out for "
                             "a limit from the device's memory")
        if self.ray is not None:
            self.ray.check()

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024
