"""Loading MultiAnimate: the Wan2.1-I2V-14B release as published plus a MultiAnimate checkpoint folder.

The base folder is Wan-AI/Wan2.1-I2V-14B-720P as downloaded::

    diffusion_pytorch_model-0000{1..7}-of-00007.safetensors + diffusion_pytorch_model.safetensors.index.json
    models_t5_umt5-xxl-enc-bf16.pth   google/umt5-xxl/ (tokenizer)   Wan2.1_VAE.pth
    models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth

with the DiT under the official Wan names (``blocks.0.self_attn.q.weight``...). The MultiAnimate
folder is ``epoch=39-step=7000.ckpt`` (3 characters) or ``epoch=23-step=4200-multi.ckpt``
(7 characters), whose ``output_dir/model-0000k-of-00008.safetensors`` hold the whole training
module: the frozen DiT, VAE and CLIP again (never read here), the rank-128 LoRA pairs
``pipe.dit.blocks.{i}.{self_attn,cross_attn}.{q,k,v,o}|ffn.{0,2}.lora_{A,B}.default.weight``
(gathered across shards, merged as W += B @ A, scale 1) and the three encoders (loaded strictly).
The character limit comes from ``label_embedding.0.weight``'s input channels (4 or 8).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ...errors import CheckpointError
from ...jobs.weights.identify import MA_DIR, MA_INDEX, MA_STEM, is_multianimate_folder
from ..checkpoints.formats import open_checkpoint
from ..checkpoints.loading import HEAD_DIM, detect_variant
from ..components import ComponentFiles
from ..models.wan_i2v import WanI2VConfig, WanI2VDiT
from .encoders import MultiAnimateEncoders
from .files import ShardSet, sharded_files

WAN_STEM = "diffusion_pytorch_model"
WAN_INDEX = "diffusion_pytorch_model.safetensors.index.json"
WAN_T5 = "models_t5_umt5-xxl-enc-bf16.pth"
WAN_TOKENIZER = Path("google/umt5-xxl")
WAN_VAE = "Wan2.1_VAE.pth"
WAN_CLIP = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
ENCODERS = ("dwpose_embedding", "label_embedding", "randomref_embedding_pose")
LORA = re.compile(r"(?:.*?)(?P<target>blocks\.\d+\.[\w.]+?)\.lora_(?P<half>[AB])(?:\.default)?\.weight\Z")


def wan_components(base: Path) -> ComponentFiles:
    """The umT5, tokenizer, VAE and CLIP files of a Wan2.1-I2V release folder, all present."""
    files = ComponentFiles(vae=base / WAN_VAE, t5=base / WAN_T5, tokenizer=base / WAN_TOKENIZER, clip=base / WAN_CLIP)
    missing = [p.name for p in (files.vae, files.t5, files.clip) if not p.is_file()]
    if not (files.tokenizer / "tokenizer.json").is_file():
        missing.append(f"{WAN_TOKENIZER}/tokenizer.json")
    if missing:
        raise CheckpointError(f"{base} lacks {', '.join(missing)}: it must be the Wan2.1-I2V-14B-720P folder as "
                              "published (DiT shards, umT5, tokenizer, VAE and CLIP side by side)")
    return files


def open_wan_i2v(base: str | Path) -> tuple[ShardSet, WanI2VConfig]:
    """The Wan2.1-I2V DiT shards of a release folder (headers only) and the model they make."""
    base = Path(base)
    if not base.is_dir():
        raise CheckpointError(f"{base} is not a folder; give the downloaded Wan2.1-I2V-14B-720P folder")
    if (base / "transformer").is_dir() or (base / "model_index.json").is_file():
        raise CheckpointError(f"{base} is the diffusers conversion (Wan2.1-I2V-14B-720P-Diffusers, transformer/ "
                              "with diffusers names); MultiAnimate needs the original release Wan-AI/Wan2.1-I2V-14B-720P")
    if not (base / WAN_INDEX).is_file() and not any(base.glob(f"{WAN_STEM}-*-of-*.safetensors")):
        raise CheckpointError(f"{base} holds no {WAN_STEM}-0000k-of-00007.safetensors shards nor {WAN_INDEX}: it is "
                              "not the Wan2.1-I2V-14B-720P release folder (a SCAIL or MultiAnimate folder goes "
                              "elsewhere: --checkpoint is the MultiAnimate folder, --base this one)")
    shards = ShardSet(sharded_files(base, WAN_STEM, WAN_INDEX, "Wan2.1-I2V DiT"))
    names = set(shards.shapes)
    if any(n.startswith("condition_embedder.") or ".attn1." in n for n in names):
        raise CheckpointError(f"{base} holds the DiT under diffusers names; MultiAnimate needs the original "
                              "release Wan-AI/Wan2.1-I2V-14B-720P (official Wan names)")
    if "patch_embedding_pose.weight" in names:
        raise CheckpointError(f"{base} is a SCAIL DiT, not Wan2.1-I2V; give the Wan2.1-I2V-14B-720P folder")
    if "img_emb.proj.0.weight" not in names:
        raise CheckpointError(f"{base} is Wan2.1 text-to-video (no CLIP image projection); MultiAnimate needs "
                              "Wan2.1-I2V-14B-720P")
    config = _infer_config(shards.shapes)
    _verify(shards.shapes, config, base)
    return shards, config


def _infer_config(shapes: dict[str, tuple[int, ...]]) -> WanI2VConfig:
    dim, in_dim, *patch = shapes.get("patch_embedding.weight", (5120, 36, 1, 2, 2))
    layers = {int(m.group(1)) for n in shapes if (m := re.match(r"blocks\.(\d+)\.", n))}
    sizes = dict(dim=dim, in_dim=in_dim, patch_size=tuple(patch), num_heads=max(1, dim // HEAD_DIM),
                 num_layers=max(layers) + 1 if layers else 40)
    for key, field, axis in (("blocks.0.ffn.0.weight", "ffn_dim", 0), ("text_embedding.0.weight", "text_dim", 1),
                             ("time_embedding.0.weight", "freq_dim", 1), ("img_emb.proj.0.weight", "clip_dim", 0)):
        if len(shapes.get(key, ())) > axis:
            sizes[field] = shapes[key][axis]
    if len(shapes.get("head.head.weight", ())) == 2:
        sizes["out_dim"] = shapes["head.head.weight"][0] // math.prod(sizes["patch_size"])
    try:
        return replace(WanI2VConfig(), **sizes)
    except ValueError as exc:
        raise CheckpointError(f"the DiT's shapes make no Wan2.1-I2V model ({exc})") from exc


def _verify(shapes: dict[str, tuple[int, ...]], config: WanI2VConfig, where: Path) -> None:
    with torch.device("meta"):
        expected = {n: tuple(t.shape) for n, t in WanI2VDiT(config).state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    misshaped = [f"{n} {list(shapes[n])} (expected {list(s)})" for n, s in expected.items()
                 if n in shapes and shapes[n] != s]
    if missing or unexpected or misshaped:
        problems = [f"{title}: {', '.join(names[:4])}" for title, names in
                    (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if names]
        raise CheckpointError(f"the DiT in {where} does not match Wan2.1-I2V ({'; '.join(problems)}); the download "
                              "is incomplete or of another model: download it again")


@dataclass
class MultiAnimateCheckpoint:
    """A MultiAnimate folder opened: its LoRA pairs and encoder tensors found (nothing read yet)."""

    folder: Path
    shards: ShardSet
    lora: dict[str, tuple[str, str]]  # DiT weight name -> (A name, B name) in the shards
    encoders: dict[str, str]  # encoder state-dict name -> name in the shards
    persons: int


def open_multianimate(path: str | Path) -> MultiAnimateCheckpoint:
    """A MultiAnimate checkpoint folder (``epoch=...ckpt`` or its ``output_dir``), headers only."""
    path = Path(path)
    folder = path / MA_DIR if (path / MA_DIR).is_dir() else path
    if not folder.is_dir():
        raise CheckpointError(f"{path} is not a folder; give the MultiAnimate checkpoint folder "
                              "(epoch=39-step=7000.ckpt or epoch=23-step=4200-multi.ckpt)")
    if not any(folder.glob(f"{MA_STEM}-*-of-*.safetensors")) and not (folder / MA_INDEX).is_file():
        if (path / "checkpoint").is_dir() or (path / "latest").is_file():
            raise CheckpointError(f"{path} is a raw DeepSpeed checkpoint; convert it first with DeepSpeed's "
                                  f"zero_to_fp32.py {path} {path / MA_DIR} --safe_serialization")
        raise CheckpointError(f"{path} holds no {MA_DIR}/{MA_STEM}-0000k-of-00008.safetensors: it is not a "
                              "MultiAnimate checkpoint folder")
    shards = ShardSet(sharded_files(folder, MA_STEM, MA_INDEX, "MultiAnimate checkpoint"))
    halves: dict[str, dict[str, str]] = {}
    encoders: dict[str, str] = {}
    for name in shards.shapes:
        encoder = next((e for e in ENCODERS if f"{e}." in name), None)
        if encoder is not None:
            encoders[name[name.index(f"{encoder}."):]] = name
        elif (match := LORA.match(name)) and name.startswith("pipe.dit."):
            halves.setdefault(match.group("target") + ".weight", {})[match.group("half")] = name
    if "label_embedding.0.weight" not in encoders:
        kind = "a UniAnimate-DiT checkpoint" if "dwpose_embedding.0.weight" in encoders else "not MultiAnimate"
        raise CheckpointError(f"{folder} is {kind}: it has no label_embedding (the identity adapter); give a "
                              "MultiAnimate checkpoint folder")
    unpaired = sorted(t for t, h in halves.items() if set(h) != {"A", "B"})
    if unpaired or not halves:
        detail = f"LoRA {unpaired[0]} lacks its other half" if unpaired else "no LoRA tensors"
        raise CheckpointError(f"{folder}: {detail}; the checkpoint is incomplete: download all its shards")
    persons = shards.shapes["label_embedding.0.weight"][1] - 1
    return MultiAnimateCheckpoint(folder, shards, {t: (h["A"], h["B"]) for t, h in halves.items()}, encoders, persons)


def detect_model(path: str | Path) -> str:
    """"scail", "scail2" or "multianimate" (jobs.contract.MODELS) for a checkpoint path, from tensor
    names and shapes only (headers, or a memory-mapped pickle): a job's inputs are checked against it
    (jobs.model_inputs.check_model) before anything loads. Other models are refused by name."""
    path = Path(path)
    if path.is_dir() and (path / WAN_INDEX).is_file():
        raise CheckpointError(f"{path} is the Wan2.1-I2V-14B base, not a checkpoint to animate with: give the "
                              "MultiAnimate checkpoint folder, with this folder beside it as its base")
    if is_multianimate_folder(path):
        open_multianimate(path)
        return "multianimate"
    return detect_variant(open_checkpoint(path).shapes)


def _check_pairs(ckpt: MultiAnimateCheckpoint, dit_shapes: dict[str, tuple[int, ...]]) -> None:
    for target, (a, b) in ckpt.lora.items():
        shape_a, shape_b = ckpt.shards.shapes[a], ckpt.shards.shapes[b]
        out_in = dit_shapes.get(target)
        if out_in is None or len(out_in) != 2 or shape_a[1:] != out_in[1:] or shape_b[:1] != out_in[:1] \
                or shape_a[0] != shape_b[1]:
            raise CheckpointError(f"{ckpt.folder}: LoRA for {target} (A {list(shape_a)}, B {list(shape_b)}) does not fit "
                                  f"the base DiT ({list(out_in) if out_in else 'no such weight'}); the MultiAnimate "
                                  "checkpoint and the Wan2.1-I2V base are of different models")


def load_multianimate(base: str | Path, checkpoint: str | Path, dtype: torch.dtype = torch.bfloat16,
                      device: str | torch.device = "cpu",
                      on_tensor: Callable[[int, int], None] | None = None
                      ) -> tuple[WanI2VDiT, MultiAnimateEncoders]:
    """The Wan2.1-I2V DiT with MultiAnimate's LoRA merged, and its encoders, eval mode on ``device``.

    The DiT is in ``dtype`` and the merge W += B @ A is computed in ``dtype`` on ``device``, as the
    official loader does (bf16 there); the label encoder is in ``dtype`` too, the pose encoders
    in float32 (see encoders.py). Only the base DiT, the LoRA pairs and the encoders are read.
    """
    shards, config = open_wan_i2v(base)
    ckpt = open_multianimate(checkpoint)
    _check_pairs(ckpt, shards.shapes)
    encoders = MultiAnimateEncoders(ckpt.persons, config.dim)
    expected = {n: tuple(t.shape) for n, t in encoders.state_dict().items()}
    found = {n: ckpt.shards.shapes[s] for n, s in ckpt.encoders.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or [n for n in expected if found[n] != expected[n]]
        raise CheckpointError(f"{ckpt.folder}: the encoder tensors do not match MultiAnimate's encoders for a DiT of "
                              f"width {config.dim} ({', '.join(wrong[:4])}); the checkpoint is damaged or for another base")
    total = len(shards.shapes)
    state = {}
    for index, name in enumerate(shards.shapes):
        weight = shards.read(name).to(device=device, dtype=dtype)
        if name in ckpt.lora:
            a, b = (ckpt.shards.read(n).to(device=device, dtype=dtype) for n in ckpt.lora[name])
            weight = weight + b @ a
        state[name] = weight
        if on_tensor is not None:
            on_tensor(index + 1, total)
    with torch.device("meta"):
        dit = WanI2VDiT(config)
    dit.load_state_dict(state, strict=True, assign=True)
    encoders.load_state_dict({n: ckpt.shards.read(s) for n, s in ckpt.encoders.items()}, strict=True)
    encoders.to(device).label_embedding.to(dtype)
    return dit.eval().requires_grad_(False), encoders.eval().requires_grad_(False)
