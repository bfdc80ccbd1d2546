"""A real ``scail serve`` process on a free loopback port, the tiny checkpoint, and small media."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from scail_blender.jobs.client import ScailClient
from scail_blender.jobs.contract import Job, JobInputs, JobSettings

from tests.support import ROOT
from tests.support.media import write_job_media

# The server package of this checkout, whatever an older editable install of the venv points at.
sys.path.insert(0, str(ROOT / "server"))

TOKEN = "test-token-0123456789"
START_TIMEOUT = 90.0


def child_env() -> dict[str, str]:
    """The worktree first on the path (the venv's editable install may point elsewhere), one
    torch thread per server: the machine's cores are shared."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server"), env.get("PYTHONPATH", "")])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path
    data_dir: Path

    def client(self, token: str | None = TOKEN) -> ScailClient:
        return ScailClient(self.url, token)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def serve_args(checkpoint: Path, data_dir: Path, port: int, *extra: str, where: str = "--checkpoint") -> list[str]:
    return [sys.executable, "-m", "scail_blender.cli", "serve", where, str(checkpoint),
            "--data-dir", str(data_dir), "--port", str(port), "--device", "cpu", *extra]


@contextlib.contextmanager
def running_server(checkpoint: Path, data_dir: Path, *extra: str, token: str | None = TOKEN,
                   env: dict[str, str] | None = None, port: int | None = None,
                   where: str = "--checkpoint") -> Iterator[Server]:
    """Start the server (on ``port``, else a free one), wait until it answers, and always kill it afterwards;
    ``where``: "--models-dir" when ``checkpoint`` is a models folder."""
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}-{port}.log"
    args = serve_args(checkpoint, data_dir, port, *extra, *(["--token", token] if token else []), where=where)
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env or child_env(), stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", proc, log, data_dir)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{server.output()}")
            try:
                requests.get(server.url + "/v1/health", headers={"Authorization": f"Bearer {token}"}, timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer within {START_TIMEOUT} s:\n{server.output()}")
                time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


@pytest.fixture(scope="session")
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:

    folder = tmp_path_factory.mktemp("media")
    for size in (32, 64):
        write_job_media(folder, size=(size, size), ref_shape=(size, size), suffix=str(size))
    (folder / "corrupt.mp4").write_bytes((folder / "pose64.mp4").read_bytes()[:300])
    (folder / "not_an_image.png").write_text("hello")
    (folder / "bomb.png").write_bytes(png_header(30000, 30000))
    (folder / "big.bin").write_bytes(os.urandom(3 * 2**20))
    return {p.stem: p for p in folder.iterdir()}


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: a decompression bomb as the image library sees it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def a_job(media: dict[str, Path], size: int = 64, steps: int = 3, **settings) -> Job:
    return Job(inputs=JobInputs(reference_image=str(media[f"ref{size}"]), pose_video=str(media[f"pose{size}"]),
                                prompt="a person dances"),
               settings=JobSettings(steps=steps, height=size, width=size, **settings))


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(checkpoint, tmp_path_factory.mktemp("srv") / "data", "--max-upload-mb", "1") as srv:
        yield srv
