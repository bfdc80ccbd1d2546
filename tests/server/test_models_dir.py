"""``scail serve --models-dir``: a ComfyUI models tree served by a real server process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scail_blender.engine.testing import random_state_dict

from tests.support.models import write_comfy_tree
from .conftest import a_job, child_env, free_port, running_server, serve_args


def test_a_comfyui_tree_is_served(tiny_checkpoint: Path, media: dict[str, Path], tmp_path: Path) -> None:
    tree = write_comfy_tree(tmp_path / "models", tiny_checkpoint, random_state_dict("tiny", "scail"))
    with running_server(tree, tmp_path / "data", where="--models-dir") as server:
        client = server.client()
        models = client.models()
        assert models["checkpoint"] == str(tree / "diffusion_models" / "wan_2.1_vae.safetensors")
        job = client.submit(a_job(media, steps=2))
        events = list(client.events(job.id))
        assert events[-1].state == "succeeded", events[-1]


def test_an_incomplete_tree_is_refused_before_serving(tiny_checkpoint: Path, tmp_path: Path) -> None:
    tree = write_comfy_tree(tmp_path / "models", tiny_checkpoint, random_state_dict("tiny", "scail"))
    (tree / "vae" / "my_vae.pth").unlink()
    proc = subprocess.run(serve_args(tree, tmp_path / "data", free_port(), where="--models-dir"), env=child_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "lacks the Wan2.1 VAE" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
