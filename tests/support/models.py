"""Tiny model files in the layouts people have on disk: a ComfyUI models/ tree from the tiny checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from scail_blender.engine.components import CLIP_FILES, T5_DIR, T5_FILE, VAE_FILE


def comfy_fp8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ComfyUI's scaled fp8 (old form): prefixed names, e4m3fn linear weights, a per-tensor
    scale_weight beside each, and the scaled_fp8 marker tensor."""
    out = {"model.diffusion_model.scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for name, tensor in state.items():
        if name.startswith("blocks.") and name.endswith(".weight") and tensor.dim() == 2:
            scale = tensor.abs().max().float() / 448
            out["model.diffusion_model." + name] = (tensor / scale).to(torch.float8_e4m3fn)
            out["model.diffusion_model." + name[:-len("weight")] + "scale_weight"] = scale.reshape(1)
        else:
            out["model.diffusion_model." + name] = tensor.to(torch.float16)
    return out


def write_comfy_tree(root: Path, tiny: Path, state: dict[str, torch.Tensor]) -> Path:
    """A ComfyUI models/ folder: the DiT as ComfyUI's fp8 repack in diffusion_models/ under a
    misleading name, the release's component files in vae/, text_encoders/, clip_vision/ under
    other names, and the tokenizer in a folder of its own."""
    (root / "diffusion_models").mkdir(parents=True)
    save_file(comfy_fp8(state), root / "diffusion_models" / "wan_2.1_vae.safetensors")
    for folder, source, name in (("vae", VAE_FILE, "my_vae.pth"), ("text_encoders", f"{T5_DIR}/{T5_FILE}", "umt5.pth"),
                                 ("clip_vision", CLIP_FILES[0], "clip_vision_h.pth"),
                                 ("text_encoders/tok", f"{T5_DIR}/tokenizer.json", "tokenizer.json")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny / source, root / folder / name)
    (root / "loras").mkdir()
    save_file({"lora_unet_blocks_0_self_attn_q.lora_down.weight": torch.zeros(4, 32),
               "lora_unet_blocks_0_self_attn_q.lora_up.weight": torch.zeros(32, 4)}, root / "loras" / "style.safetensors")
    return root
