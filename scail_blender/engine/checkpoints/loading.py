"""From an opened checkpoint to the model: which variant, which sizes, every tensor checked,
then the DiT built on the meta device so the weights are never held twice."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ...errors import CheckpointError
from ...jobs.contract import VARIANT_NAMES
from ...jobs.weights.dit_names import is_wan_dit, scail_variant
from ..models.dit import DitConfig, ScailDiT
from .formats import Checkpoint, open_checkpoint

log = logging.getLogger(__name__)

KEY_COUNTS = {"scail": 1305, "scail2": 1307, "wan_i2v": 1303}
HEAD_DIM = 128  # every released Wan2.1 size; shapes alone do not tell the number of heads


def detect_variant(names: Iterable[str]) -> str:
    """"scail" or "scail2" from the tensor names; CheckpointError for other models."""
    names = set(names)
    if is_wan_dit(names):
        variant, other = scail_variant(names)  # the finder's identify decides with the same function
        if variant:
            return variant
        raise CheckpointError(f"this is {other}, {len(names)} tensors (SCAIL has {KEY_COUNTS['scail']}, SCAIL-2 "
                              f"{KEY_COUNTS['scail2']}), not SCAIL: point to the SCAIL-Preview or SCAIL-2 "
                              "checkpoint instead")
    sample = ", ".join(sorted(names)[:5]) or "no tensors at all"
    raise CheckpointError(f"not a SCAIL DiT checkpoint (found {sample}); point to the SCAIL-Preview "
                          "or SCAIL-2 model folder, or a safetensors file from `scail convert`")


def infer_config(shapes: dict[str, tuple[int, ...]], variant: str,
                 num_heads: int | None = None) -> DitConfig:
    """Model sizes from tensor shapes (missing tensors keep the 14B values; verify reports them)."""
    config = DitConfig.preset("14B", variant)
    sizes: dict = {}
    if len(shapes.get("patch_embedding.weight", ())) == 5:
        sizes["dim"], sizes["in_dim"], *patch = shapes["patch_embedding.weight"]
        sizes["patch_size"] = tuple(patch)
    blocks = {int(m.group(1)) for n in shapes if (m := re.match(r"blocks\.(\d+)\.", n))}
    if blocks:
        sizes["num_layers"] = max(blocks) + 1
    for key, field, axis in (("blocks.0.ffn.0.weight", "ffn_dim", 0),
                             ("text_embedding.0.weight", "text_dim", 1),
                             ("time_embedding.0.weight", "freq_dim", 1),
                             ("img_emb.proj.0.weight", "clip_dim", 0),
                             ("patch_embedding_mask.weight", "mask_dim", 1)):
        if len(shapes.get(key, ())) > axis:
            sizes[field] = shapes[key][axis]
    patch_volume = math.prod(sizes.get("patch_size", config.patch_size))
    if len(shapes.get("head.head.weight", ())) == 2:
        sizes["out_dim"] = shapes["head.head.weight"][0] // patch_volume
    dim = sizes.get("dim", config.dim)
    sizes["num_heads"] = num_heads or max(1, dim // HEAD_DIM)
    try:
        return replace(config, **sizes)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint shapes make no valid model ({exc})") from exc


def expected_shapes(config: DitConfig) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a config's model (built on the meta device: no memory)."""
    with torch.device("meta"):
        model = ScailDiT(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def verify(checkpoint: Checkpoint, config: DitConfig) -> None:
    """Raise CheckpointError listing missing, unexpected and mis-shaped tensors, if any."""
    expected = expected_shapes(config)
    missing = [n for n in expected if n not in checkpoint.shapes]
    unexpected = [n for n in checkpoint.shapes if n not in expected] + checkpoint.unknown
    misshaped = [f"{n} {list(checkpoint.shapes[n])} (expected {list(s)})"
                 for n, s in expected.items() if n in checkpoint.shapes and checkpoint.shapes[n] != s]
    if not (missing or unexpected or misshaped):
        return
    lines = [f"{checkpoint.path} does not match the {VARIANT_NAMES[config.variant]} DiT it looks like "
             f"(dim {config.dim}, {config.num_layers} blocks, {len(expected)} tensors; the file has "
             f"{len(checkpoint.shapes) + len(checkpoint.unknown)}): {len(missing)} missing, "
             f"{len(unexpected)} unexpected, {len(misshaped)} mis-shaped"]
    for title, names in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if names:
            more = f" ... and {len(names) - 6} more" if len(names) > 6 else ""
            lines.append(f"  {title}: {', '.join(names[:6])}{more}")
    lines.append("The file is incomplete, damaged or of another model: download it again, or "
                 "re-run `scail convert` on the original download.")
    raise CheckpointError("\n".join(lines))


def read_config(path: str | Path, num_heads: int | None = None) -> tuple[Checkpoint, DitConfig]:
    """Open and check a checkpoint: its tensors, and the model they make."""
    checkpoint = open_checkpoint(path)
    variant = detect_variant(checkpoint.shapes)
    config = infer_config(checkpoint.shapes, variant, num_heads or checkpoint.num_heads)
    verify(checkpoint, config)
    return checkpoint, config


def load_dit(path: str | Path, dtype: torch.dtype = torch.bfloat16,
             device: str | torch.device = "cpu", num_heads: int | None = None,
             on_tensor: Callable[[int, int], None] | None = None, keep_quantised: bool = True) -> ScailDiT:
    """Build the SCAIL DiT of any supported checkpoint, weights cast to dtype on device, eval mode.

    ``path`` is a SCAIL-Preview / SCAIL-2 model folder, one of their .pt files, a wan-branch or
    ComfyUI safetensors file, or a GGUF file. ``num_heads`` overrides dim // 128 for non-standard
    sizes. ``on_tensor(done, total)`` follows the reading (minutes for the real model).
    With ``keep_quantised`` the blocks' linears an fp8, int8, mxfp8, nvfp4 or GGUF file stores quantised stay so
    (``dtype`` is then what they compute in), so the model takes about the file's size;
    without, every weight is dequantised to ``dtype``.
    """
    checkpoint, config = read_config(path, num_heads)
    device = torch.device(device)
    packed = checkpoint.packed if keep_quantised else {}
    with torch.device("meta"):
        model = ScailDiT(config)
    state = {}
    for index, name in enumerate(checkpoint.shapes):
        if name not in packed:
            state[name] = checkpoint.read(name).to(device=device, dtype=dtype)
        if on_tensor is not None:
            on_tensor(index + 1, len(checkpoint.shapes))
    kept = set()
    for name, make in packed.items():
        layer = name[: -len(".weight")]
        module = make(state.pop(layer + ".bias", None), dtype, device)
        _replace(model, layer, module)
        kept |= {f"{layer}.{key}" for key in module.state_dict()}
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if unexpected or set(missing) - kept:
        raise CheckpointError(f"{checkpoint.path}: tensors left unloaded ({sorted(set(missing) - kept)[:3]}) or "
                              f"unplaced ({unexpected[:3]}); the file is damaged: download it again")
    if packed:
        log.info("%s: %d linears kept %s", checkpoint.path.name, len(packed), checkpoint.storage)
    return model.eval().requires_grad_(False)


def _replace(model: nn.Module, name: str, layer: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent), leaf, layer)
