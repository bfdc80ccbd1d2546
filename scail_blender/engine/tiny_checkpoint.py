"""Tiny random checkpoint folders in the official layout, for smoke tests without 40 GB downloads.

Every file is written in the release's format and names (DiT through the checkpoints package's writers,
bare state dicts for the VAE, umT5 and CLIP, a ``tokenizer.json`` built here with a word-level
model), only with tiny sizes, so a tiny folder exercises exactly the loading code a real one does.
The weights are random: the videos they make are noise, but of the right length, size and rate.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from .testing import random_state_dict, save_fsdp, save_sat
from .components import CLIP_FILES, T5_DIR, T5_FILE, VAE_FILE
from .models.clip import ClipConfig, ClipVision
from .models.dit import DitConfig
from .models.t5 import T5Config, T5Encoder
from .models.vae import VaeConfig, WanVAE

WORDS = ("a", "the", "person", "dances", "walks", "runs", "jumps", "in", "on", "park", "stage", "red", "blue")


def tiny_tokenizer() -> Tokenizer:
    """Word-level tokenizer with umT5's special ids (pad 0, end 1, unknown 2) that appends </s>."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return tokenizer


def write_tiny_checkpoint(root: str | Path, variant: str = "scail", seed: int = 0) -> Path:
    """Write DiT, VAE, umT5 (+ tokenizer) and CLIP files for ``variant`` under ``root``."""
    root = Path(root)
    dit = DitConfig.preset("tiny", variant)
    state = random_state_dict(dit, seed=seed)
    if variant == "scail2":
        save_fsdp(state, root)
    else:
        save_sat(state, root)
    return write_tiny_components(root, dit.text_dim, dit.clip_dim, seed)


def write_tiny_components(root: Path, text_dim: int, clip_dim: int, seed: int = 0, t5_file: Path = Path(T5_DIR, T5_FILE),
                          tokenizer_dir: Path = Path(T5_DIR), clip_file: str = CLIP_FILES[0]) -> Path:
    """Tiny VAE, umT5 (+ tokenizer) and CLIP files under ``root`` at the given relative paths (SCAIL's
    layout by default; the Wan2.1-I2V release puts them elsewhere)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = WanVAE(VaeConfig(dim=8)).state_dict()
        t5 = T5Encoder(T5Config(vocab_size=64, dim=text_dim, dim_attn=text_dim, dim_ffn=2 * text_dim,
                                num_heads=2, num_layers=2)).state_dict()
        clip = ClipVision(ClipConfig(image_size=28, patch_size=14, dim=clip_dim, num_layers=3,
                                     out_dim=32)).state_dict()
    root.mkdir(parents=True, exist_ok=True)
    torch.save(vae, root / VAE_FILE)
    for folder in ((root / t5_file).parent, root / tokenizer_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # The release's encoder file is bfloat16.
    torch.save({k: v.to(torch.bfloat16) for k, v in t5.items()}, root / t5_file)
    tiny_tokenizer().save(str(root / tokenizer_dir / "tokenizer.json"))
    clip_state = {f"visual.{k}": v for k, v in clip.items()}
    clip_state["log_scale"] = torch.tensor(4.6052)
    torch.save(clip_state, root / clip_file)
    return root
