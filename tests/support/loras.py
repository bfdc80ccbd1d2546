"""Tiny LoRA files for the tiny checkpoints (SCAIL-Preview and SCAIL-2 share the block shapes),
in the key layouts the engine reads."""

from __future__ import annotations

from pathlib import Path


def write_lora(path: Path, layout: str = "kohya") -> Path:
    """A LoRA for the tiny checkpoint's first block as a real safetensors file: kohya keys, or
    diffusers/PEFT ones (``peft``) on another layer."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    if layout == "peft":
        save_file({"diffusion_model.blocks.0.ffn.0.lora_A.weight": torch.randn(4, 256, generator=g),
                   "diffusion_model.blocks.0.ffn.0.lora_B.weight": torch.randn(512, 4, generator=g) * 0.01}, str(path))
        return path
    save_file({"lora_unet_blocks_0_self_attn_q.lora_down.weight": torch.randn(4, 256, generator=g),
               "lora_unet_blocks_0_self_attn_q.lora_up.weight": torch.randn(256, 4, generator=g) * 0.01,
               "lora_unet_blocks_0_self_attn_q.alpha": torch.tensor(4.0)}, str(path))
    return path
