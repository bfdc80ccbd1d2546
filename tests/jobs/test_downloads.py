"""`scail models` downloads against a local hub on 127.0.0.1 (the real hub is not reachable in tests).

The local hub (tests/support/hub.py) answers in the hub's URL layout with the headers
huggingface_hub checks (ETag, X-Repo-Commit, Content-Length) and honours Range requests, so the
same code that talks to huggingface.co runs here with HF_ENDPOINT (or ``endpoint=``) pointed at it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections import namedtuple
from pathlib import Path

import pytest

from scail_blender.errors import Cancelled
from scail_blender.jobs.weights import download
from scail_blender.jobs.weights.download import DownloadError, get, listing, plan
from scail_blender.jobs.weights.setups import SETUPS, RemoteFile, Setup

from tests.support import ROOT
from tests.support.hub import LocalHub

BIG = 5 * 2**20 + 12345  # several 1 MB chunks and an odd tail


def one_file(size: int = BIG, repo: str = "Org/Repo", verified: bool = True) -> tuple[Setup, bytes]:
    data = os.urandom(size)
    chosen = Setup("t", "test", (RemoteFile("vae", repo, "split/vae/v.safetensors", "vae/v.safetensors", size,
                                            exact=True, verified=verified),))
    return chosen, data


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    chosen, data = one_file()
    events = []
    with LocalHub({"Org/Repo/split/vae/v.safetensors": data}) as hub:
        hub.cut_after = 2 * 2**20 + 100  # the connection drops, then the network is gone
        with pytest.raises(DownloadError, match="run the same command again"):
            get(chosen, tmp_path, endpoint=hub.url, on_progress=events.append)
        partial = next((tmp_path / ".scail-download").glob("*.part"))
        kept = partial.stat().st_size
        assert 0 < kept < len(data) and partial.read_bytes() == data[:kept]
        assert not (tmp_path / "vae/v.safetensors").exists()
        hub.down, hub.cut_after = False, None
        hub.requests.clear()
        assert get(chosen, tmp_path, endpoint=hub.url, on_progress=events.append) == [tmp_path / "vae/v.safetensors"]
    assert [r for r in hub.requests if r[0] == "GET"] == [("GET", "/Org/Repo/resolve/main/split/vae/v.safetensors",
                                                          f"bytes={kept}-")]
    assert (tmp_path / "vae/v.safetensors").read_bytes() == data and not partial.exists()
    steps = [e.step for e in events if e.phase == "download"]
    assert steps == sorted(steps) and events[-1].phase == "done"
    assert any("MB/s" in e.message and "left" in e.message for e in events)
    assert plan(chosen, tmp_path)[0].present == "present"  # a second get has nothing to do
    assert get(chosen, tmp_path, endpoint=hub.url) == []


def test_cancel_keeps_the_partial_file(tmp_path: Path) -> None:
    chosen, data = one_file()
    cancel = threading.Event()

    def stop_after_a_chunk(event) -> None:
        if event.step >= 1:
            cancel.set()

    with LocalHub({"Org/Repo/split/vae/v.safetensors": data}) as hub:
        with pytest.raises(Cancelled):
            get(chosen, tmp_path, endpoint=hub.url, on_progress=stop_after_a_chunk, cancel=cancel)
    partial = next((tmp_path / ".scail-download").glob("*.part"))
    assert partial.read_bytes() == data[:partial.stat().st_size] and partial.stat().st_size >= 2**20


def test_refusals_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen, data = one_file(repo="Gated/Repo")
    with LocalHub({"Gated/Repo/split/vae/v.safetensors": data}, gated={"Gated/Repo": "secret"}) as hub:
        with pytest.raises(DownloadError, match="needs a Hugging Face token.*--token or set HF_TOKEN"):
            get(chosen, tmp_path, endpoint=hub.url, token="wrong")
        assert get(chosen, tmp_path, endpoint=hub.url, token="secret") == [tmp_path / "vae/v.safetensors"]
        assert hub.requests[-1][0] == "GET"
        moved, _ = one_file(verified=False)
        with pytest.raises(DownloadError, match=r"Org/Repo/split/vae/v.safetensors is not on .*not verified"):
            get(moved, tmp_path / "other", endpoint=hub.url)
        usage = namedtuple("usage", "total used free")
        monkeypatch.setattr(download.shutil, "disk_usage", lambda _: usage(10**12, 10**12 - 2**20, 2**20))
        with pytest.raises(DownloadError, match="need 5.3 MB more but .* has 1.0 MB free"):
            get(chosen, tmp_path / "small", endpoint=hub.url, token="secret")
        assert hub.requests[-1][0] == "HEAD"  # refused before any byte was asked for
    with socket.socket() as probe:  # a port nothing listens on: no network to the hub
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(DownloadError, match=f"could not reach {url}.*check the network"):
        get(chosen, tmp_path / "offline", endpoint=url, token="secret")


def test_scail_models_get_fills_a_comfyui_tree_through_hf_endpoint(tmp_path: Path) -> None:
    """The command line end to end: HF_ENDPOINT points huggingface_hub at the local hub, every
    file of a real setup lands in ComfyUI's folders, and the list then says everything is there."""
    chosen = SETUPS["scail2-fp8-comfy"]
    files = {f"{f.repo}/{f.path}": os.urandom(1000 + i) for i, f in enumerate(chosen.files)}
    env = {**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_TOKEN": ""}
    models = tmp_path / "models"
    with LocalHub(files) as hub:
        env["HF_ENDPOINT"] = hub.url
        proc = subprocess.run([sys.executable, "-m", "scail_blender.cli", "models", "get", "--setup", "scail2-fp8-comfy",
                               "--models-dir", str(models)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
    assert proc.returncode == 0, proc.stderr
    for f in chosen.files:
        assert (models / f.dest).read_bytes() == files[f"{f.repo}/{f.path}"]
    assert "download " in proc.stderr and f"wrote {models / 'diffusion_models'}" in proc.stdout
    # present now, except the umT5, whose size the hub lists exactly (6.7 GB): a file of another size is
    # a truncated or older one and is fetched again
    assert {p.file.role: p.present for p in plan(chosen, models)} == {
        "dit": "present", "vae": "present", "t5": "", "clip": "present", "tokenizer": "present"}
    assert listing(chosen, plan(chosen, models)).endswith("to download: 1 files, 6.74 GB")
    shutil.rmtree(models)
