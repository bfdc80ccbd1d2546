"""The non-DiT parts of a SCAIL checkpoint folder: VAE, umT5 encoder + tokenizer, CLIP vision.

Both releases ship them side by side with the DiT (the wan-branch config's names):

    SCAIL-Preview/ (or SCAIL-2/)
      model/1/...                          the DiT (see checkpoints/)
      Wan2.1_VAE.pth
      umt5-xxl/models_t5_umt5-xxl-enc-bf16.pth  and the tokenizer files
      models_clip_open-clip-xlm-roberta-large-vit-huge-14-onlyvisual.pth  (or the full CLIP file)

The files hold bare state dicts without sizes, so sizes are read from the tensor shapes: the
released files give the released models and the tiny test checkpoints give tiny ones, through
the same code.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..jobs.weights.finder import Selection, components_for
from ..jobs.weights.identify import identify
from .checkpoints.component_files import clip_from_hf, read_safetensors, t5_from_hf
from .checkpoints.formats import recorded_components
from .models.clip import ClipConfig, ClipVision, visual_state_dict
from .models.t5 import T5Config, T5Encoder
from .models.vae import VaeConfig, WanVAE

VAE_FILE = "Wan2.1_VAE.pth"
T5_DIR = "umt5-xxl"
T5_FILE = "models_t5_umt5-xxl-enc-bf16.pth"
CLIP_FILES = ("models_clip_open-clip-xlm-roberta-large-vit-huge-14-onlyvisual.pth",
              "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth")
CLIP_HEAD_DIM = 80  # ViT-H/14: 16 heads of 80


@dataclass(frozen=True)
class ComponentFiles:
    vae: Path
    t5: Path
    tokenizer: Path
    clip: Path

    @classmethod
    def for_checkpoint(cls, checkpoint: Path, dit_file: Path,
                       components: str | Path | ComponentFiles | None = None) -> ComponentFiles:
        """The VAE, umT5 and CLIP for a DiT: ``components`` when given; for a folder, the folder;
        for a DiT file (a converted .safetensors), its own folder, else the release folder
        ``scail convert`` recorded in it, else the files found by their headers in the ComfyUI
        models tree the file sits in (``diffusion_models/`` or ``unet/``) or beside it."""
        if isinstance(components, ComponentFiles):  # found in a models folder (``scail generate --models-dir``)
            return components
        if components is not None:
            return cls.locate(components)
        if checkpoint.is_dir():
            return cls.locate(checkpoint)
        info = identify(dit_file)
        if info.role != "dit":
            raise CheckpointError(f"{dit_file} is not a SCAIL DiT file ({info.describe()}): give the downloaded SCAIL "
                                  "folder or its DiT file with --checkpoint, or a models folder with --models-dir")
        recorded = recorded_components(dit_file)
        for folder in (dit_file.parent, recorded):
            if folder is not None and cls.complete(folder):
                return cls.locate(folder)
        found = components_for(dit_file)  # a ComfyUI models tree, or the files beside it under other names
        if found is not None:
            return cls.of(found)
        where = f"beside it in {dit_file.parent}" + (f" nor in {recorded}, the folder it was converted from" if recorded else "")
        raise CheckpointError(f"{dit_file} is a DiT file, and the VAE, umT5 (with its tokenizer.json) and CLIP files are "
                              f"not {where}, nor in the ComfyUI models folder it sits in: put the file into the downloaded "
                              "SCAIL folder, give that folder with --components DIR, or see what is missing with "
                              "`scail models --models-dir DIR`")

    @classmethod
    def of(cls, selection: Selection) -> ComponentFiles:
        """The files a models-folder selection found (``jobs.weights.finder``; all present)."""
        return cls(vae=selection.vae.path, t5=selection.t5.path, tokenizer=selection.tokenizer.path.parent,
                   clip=selection.clip.path)

    @staticmethod
    def complete(root: Path) -> bool:
        """Whether ``root`` holds all the non-DiT files."""
        return ((root / VAE_FILE).is_file() and (root / T5_DIR / T5_FILE).is_file()
                and any((root / name).is_file() for name in CLIP_FILES))

    @classmethod
    def locate(cls, root: str | Path) -> ComponentFiles:
        root = Path(root)
        if not root.is_dir():
            raise CheckpointError(f"checkpoint folder {root} does not exist; give the downloaded "
                                  "SCAIL-Preview or SCAIL-2 folder (or make one: scail make-test-checkpoint DIR)")
        clip = next((root / name for name in CLIP_FILES if (root / name).is_file()), None)
        found = {"vae": root / VAE_FILE, "t5": root / T5_DIR / T5_FILE, "tokenizer": root / T5_DIR,
                 "clip": clip}
        missing = [str(Path(root.name) / rel) for key, rel in
                   (("vae", VAE_FILE), ("t5", f"{T5_DIR}/{T5_FILE}"), ("clip", CLIP_FILES[0]))
                   if found[key] is None or not found[key].is_file()]
        if missing:
            raise CheckpointError(f"checkpoint folder {root} lacks {', '.join(missing)}; the folder must hold "
                                  f"the DiT (model/1/...), {VAE_FILE}, {T5_DIR}/ (encoder + tokenizer) and the "
                                  "CLIP file, as the release does")
        return cls(**found)


def read_state_dict(path: Path, what: str, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A bare state dict from a torch file, tensors only (nothing in the file is executed), or
    from a ComfyUI safetensors file (fp8 weights dequantised to ``dtype``; component_files.py)."""
    if path.suffix == ".safetensors":
        return read_safetensors(path, what, dtype)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a torch checkpoint (damaged or another format); download the {what} again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise CheckpointError(f"{path} could not be read ({exc}); download the {what} again") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a plain state dict; is it really the {what}?")
    return state


def _load(model: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str,
          dtype: torch.dtype, device: str | torch.device) -> nn.Module:
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{path} is not the {what} ({detail} among its tensors); check that the file "
                              "is the one the release names")
    for name, tensor in model.state_dict().items():
        if state[name].shape != tensor.shape:
            raise CheckpointError(f"{path}: tensor {name} has shape {list(state[name].shape)}, expected "
                                  f"{list(tensor.shape)}; the file is from another model")
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def _shape(state: dict[str, torch.Tensor], name: str, path: Path, what: str) -> torch.Size:
    if name not in state:
        raise CheckpointError(f"{path} has no tensor {name}; it is not the {what}")
    return state[name].shape


def load_vae(path: Path, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> WanVAE:
    what = "Wan2.1 VAE"
    state = read_state_dict(path, what)
    dim = _shape(state, "encoder.conv1.weight", path, what)[0]
    z_dim = _shape(state, "conv2.weight", path, what)[0]
    return _load(WanVAE(VaeConfig(dim=dim, z_dim=z_dim)), state, path, what, dtype, device)


def load_t5(path: Path, dtype: torch.dtype = torch.bfloat16, device: str | torch.device = "cpu") -> T5Encoder:
    what = "umT5-xxl encoder"
    state = read_state_dict(path, what, dtype)
    if "shared.weight" in state:  # ComfyUI's text_encoders/umt5_xxl_*.safetensors
        state = t5_from_hf(state, path)
    vocab, dim = _shape(state, "token_embedding.weight", path, what)
    buckets, heads = _shape(state, "blocks.0.pos_embedding.embedding.weight", path, what)
    cfg = T5Config(vocab_size=vocab, dim=dim, dim_attn=_shape(state, "blocks.0.attn.q.weight", path, what)[0],
                   dim_ffn=_shape(state, "blocks.0.ffn.fc1.weight", path, what)[0], num_heads=heads,
                   num_layers=len({k.split(".")[1] for k in state if k.startswith("blocks.")}), num_buckets=buckets)
    return _load(T5Encoder(cfg), state, path, what, dtype, device)


def load_clip(path: Path, dtype: torch.dtype = torch.float16, device: str | torch.device = "cpu") -> ClipVision:
    what = "open-clip xlm-roberta-large ViT-H/14"
    state = read_state_dict(path, what, dtype)
    if any(name.startswith("vision_model.") for name in state):  # ComfyUI's clip_vision_h.safetensors
        state = clip_from_hf(state, path)
    else:
        state = visual_state_dict(state)
    dim, _, patch, _ = _shape(state, "patch_embedding.weight", path, what)
    grid = round((_shape(state, "pos_embedding", path, what)[1] - 1) ** 0.5)
    cfg = ClipConfig(image_size=grid * patch, patch_size=patch, dim=dim,
                     mlp_ratio=_shape(state, "transformer.0.mlp.0.weight", path, what)[0] // dim,
                     num_heads=max(1, dim // CLIP_HEAD_DIM),
                     num_layers=len({k.split(".")[1] for k in state if k.startswith("transformer.")}),
                     out_dim=_shape(state, "head", path, what)[1])
    return _load(ClipVision(cfg), state, path, what, dtype, device)
