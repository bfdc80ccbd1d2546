"""Tiny Wan2.1-I2V and MultiAnimate folders in the published layouts, for tests without 70 GB downloads.

The files are those the releases hold, in their names, formats and sharding (see checkpoint.py),
only tiny and random: the Wan base as index json + ``diffusion_pytorch_model-k-of-n`` shards in
the official Wan names with umT5, tokenizer, VAE and CLIP beside them; the MultiAnimate folder as
``output_dir/model-k-of-00008.safetensors`` + index, holding (like zero_to_fp32's output) frozen
copies of DiT and VAE tensors first, then fp32 LoRA pairs split across the last shards, then the
three encoders.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import torch

from ..testing import init_random_, save_safetensors
from ..tiny_checkpoint import write_tiny_components
from ..models.wan_i2v import TINY, WanI2VConfig, WanI2VDiT
from .checkpoint import (MA_DIR, MA_INDEX, MA_STEM, WAN_CLIP, WAN_INDEX, WAN_STEM, WAN_T5, WAN_TOKENIZER)
from .encoders import MultiAnimateEncoders

LORA_TARGETS = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
                "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2")


def random_wan_i2v(config: WanI2VConfig = TINY, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random Wan2.1-I2V DiT weights in the official names (float32)."""
    return {n: t.detach() for n, t in init_random_(WanI2VDiT(config), seed).state_dict().items()}


def random_multianimate(config: WanI2VConfig = TINY, persons: int = 3, rank: int = 4, seed: int = 0
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Seeded random LoRA pairs {target weight: (A, B) stacked by name} and encoder weights, float32.

    Returns (lora, encoders): lora maps ``blocks.i.<target>.lora_A|lora_B`` to tensors, sized so the
    merged delta is about a tenth of a weight's scale: visible in outputs, not swamping them.
    """
    lora = {}
    for block in range(config.num_layers):
        for target in LORA_TARGETS:
            name = f"blocks.{block}.{target}"
            out_features = config.ffn_dim if target == "ffn.0" else config.dim
            in_features = config.ffn_dim if target == "ffn.2" else config.dim
            generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
            lora[f"{name}.lora_A"] = torch.randn(rank, in_features, generator=generator) / math.sqrt(in_features)
            lora[f"{name}.lora_B"] = torch.randn(out_features, rank, generator=generator) * 0.1 / math.sqrt(rank)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoders = MultiAnimateEncoders(persons, config.dim).state_dict()
    return lora, encoders


def _write_shards(folder: Path, stem: str, index_name: str, shards: list[dict[str, torch.Tensor]]) -> None:
    weight_map, total = {}, 0
    for k, shard in enumerate(shards, start=1):
        name = f"{stem}-{k:05d}-of-{len(shards):05d}.safetensors"
        save_safetensors(shard, folder / name)
        weight_map |= {tensor: name for tensor in shard}
        total += sum(t.numel() * t.element_size() for t in shard.values())
    (folder / index_name).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))


def write_tiny_wan_i2v(root: str | Path, seed: int = 0, shards: int = 3, config: WanI2VConfig = TINY,
                       components: bool = True) -> Path:
    """A tiny Wan2.1-I2V-14B-720P release folder under ``root`` (DiT shards only without ``components``)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    state = random_wan_i2v(config, seed)
    names = list(state)
    per = math.ceil(len(names) / shards)
    _write_shards(root, WAN_STEM, WAN_INDEX,
                  [{n: state[n] for n in names[i:i + per]} for i in range(0, len(names), per)])
    if components:
        write_tiny_components(root, config.text_dim, config.clip_dim, seed, t5_file=Path(WAN_T5),
                              tokenizer_dir=WAN_TOKENIZER, clip_file=WAN_CLIP)
    return root


def write_tiny_multianimate(root: str | Path, persons: int = 3, seed: int = 0, config: WanI2VConfig = TINY,
                            base_seed: int = 0) -> Path:
    """A tiny MultiAnimate checkpoint folder ``root`` (with ``output_dir/`` inside) for ``persons`` (3 or 7)."""
    folder = Path(root) / MA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    base = random_wan_i2v(config, base_seed)
    lora, encoders = random_multianimate(config, persons, seed=seed)
    # Frozen tensors as zero_to_fp32 writes them (PEFT's base_layer names, bf16): never read by the loader.
    frozen = {f"pipe.dit.{n.replace('.q.weight', '.q.base_layer.weight')}": t.to(torch.bfloat16)
              for n, t in base.items() if n.startswith("blocks.")}
    frozen["pipe_VAE.vae.model.conv1.weight"] = torch.zeros(4, 4, 1, 1, 1, dtype=torch.bfloat16)
    peft = {f"pipe.dit.{n}.default.weight": t for n, t in lora.items()}
    lora_names = list(peft)
    half = len(lora_names) // 2 + 1  # odd split: one pair straddles two shards
    frozen_names = list(frozen)
    per = math.ceil(len(frozen_names) / 5)
    shards = [{n: frozen[n] for n in frozen_names[i:i + per]} for i in range(0, len(frozen_names), per)]
    shards.append({n: peft[n] for n in lora_names[:half]})
    shards.append({n: peft[n] for n in lora_names[half:]})
    shards.append({n: t.float() for n, t in encoders.items()})
    _write_shards(folder, MA_STEM, MA_INDEX, shards)
    return Path(root)
