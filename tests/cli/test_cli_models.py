"""``scail generate --models-dir`` and ``scail models --models-dir`` on a ComfyUI tree of tiny files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from safetensors.torch import save_file

from scail_blender.engine.testing import random_state_dict
from scail_blender.media.video import probe_video

from tests.support import ROOT
from tests.support.media import write_job_media
from tests.support.models import write_comfy_tree


def scail(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scail_blender.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_generate_runs_from_a_comfyui_models_folder(tiny_checkpoint: Path, tmp_path: Path) -> None:
    tree = write_comfy_tree(tmp_path / "models", tiny_checkpoint, random_state_dict("tiny", "scail"))
    (tree / "unet").mkdir()
    save_file({k: v.bfloat16() for k, v in random_state_dict("tiny", "scail2").items()}, tree / "unet" / "second.safetensors")
    media = write_job_media(tmp_path, frames=5)
    shown = scail("models", "--models-dir", str(tree))
    assert shown.returncode == 0, shown.stderr
    assert "SCAIL DiT: 2 found" in shown.stdout and "unet/second.safetensors  SCAIL-2 DiT" in shown.stdout
    out = tmp_path / "out.mp4"
    proc = scail("generate", "--models-dir", str(tree), "--dit", "wan_2.1_vae.safetensors", "--ref", str(media["ref"]),
                 "--pose", str(media["pose"]), "--out", str(out), "--steps", "2", "--size", "64x64")
    assert proc.returncode == 0, proc.stderr
    assert "DiT " + str(tree / "diffusion_models" / "wan_2.1_vae.safetensors") in proc.stderr
    assert probe_video(out).frames == 5
    missing = scail("generate", "--models-dir", str(tmp_path / "nowhere"), "--ref", str(media["ref"]),
                    "--pose", str(media["pose"]), "--out", str(tmp_path / "x.mp4"))
    assert missing.returncode == 2 and "models folder" in missing.stderr and "Traceback" not in missing.stderr
