"""The add-on's Models Folder: DiTs found by header fill the menu, an incomplete folder is refused at
the button, and Get Models downloads the missing files as a board activity (local hub on 127.0.0.1)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import torch
from safetensors.torch import save_file

from scail_blender.engine.components import CLIP_FILES
from scail_blender.engine.testing import random_state_dict
from scail_blender.jobs.install import HUB_PACKAGE, pip_command
from scail_blender.jobs.weights.setups import SETUPS

from tests.support import ROOT, run_script
from tests.support.hub import LocalHub
from tests.support.models import write_comfy_tree

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def test_models_folder_menu_and_get_models(tiny_checkpoint: Path, tmp_path: Path) -> None:
    tree = write_comfy_tree(tmp_path / "models", tiny_checkpoint, random_state_dict("tiny", "scail"))
    (tree / "clip_vision" / "clip_vision_h.pth").unlink()
    chosen = SETUPS["scail2-fp8"]
    dit = next(f for f in chosen.files if f.role == "dit")
    clip = next(f for f in chosen.files if f.role == "clip")
    save_file({k: v.to(torch.bfloat16) for k, v in random_state_dict("tiny", "scail2").items()}, tmp_path / "dit")
    served = {f"{dit.repo}/{dit.path}": (tmp_path / "dit").read_bytes(),
              f"{clip.repo}/{clip.path}": (tiny_checkpoint / CLIP_FILES[0]).read_bytes()}
    with LocalHub(served) as hub:
        result = run_script(SCRIPTS / "get_models.py", {"models": str(tree), "endpoint": hub.url})
    assert result["online_access"] is False  # the bpy module starts with online access off
    assert "Get Models needs the network (https://huggingface.co) but Blender's online access is off" in result["refused_offline"]
    assert result["dits"] == ["diffusion_models/wan_2.1_vae.safetensors"]
    assert "Models Folder: the models folder lacks the CLIP ViT-H/14 vision; choose Get Models" in result["incomplete"]
    assert result["state"] == "ok" and result["message"].startswith("2 files downloaded"), result
    assert any("MB" in line for line in result["lines"])
    assert result["dits_after"] == ["diffusion_models/wan2.1_14B_SCAIL_2_fp8_scaled.safetensors",
                                    "diffusion_models/wan_2.1_vae.safetensors"]
    assert result["checkpoint"] == str(tree / dit.dest)
    assert (tree / clip.dest).read_bytes() == served[f"{clip.repo}/{clip.path}"]


def test_install_engine_brings_the_downloader_pinned_as_pyproject_does() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert HUB_PACKAGE in dependencies
    assert HUB_PACKAGE in pip_command("python", Path("t"), Path("c"))
