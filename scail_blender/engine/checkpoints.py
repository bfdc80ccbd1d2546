"""SCAIL DiT checkpoints: read the three official formats, check them, build the model; convert them.

Formats (all hold the same tensors, only named and packed differently):

- SAT, SCAIL-Preview's release: ``model/1/mp_rank_00_model_states.pt``, a DeepSpeed pickle whose
  "module" entry is the state dict, names prefixed ``model.diffusion_model.`` and the attention
  projections fused (q|k|v, k|v, k_img|v_img stacked on dim 0);
- FSDP, SCAIL-2's release: ``model/1/fsdp2_rank_0000_checkpoint.pt``, float32, the same SAT names
  under "module", next to NumPy RNG state;
- safetensors in the wan-branch names (``blocks.0.self_attn.q.weight``...), what the official
  convert.py writes and what ``scail convert`` writes for fast reloads.

Reading never holds two copies of the weights: pickles are memory-mapped, safetensors read one
tensor at a time, each tensor is cast and moved to its device on the way, and the model is built
on the meta device and takes the loaded tensors as its parameters. Non-tensor objects in the
pickles (optimizer settings, RNG states) are replaced by inert stand-ins, so nothing in a
downloaded file is executed.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import struct
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..errors import CheckpointError
from ..outputs import atomic_file
from ..jobs.contract import VARIANT_NAMES
from .models.dit import DitConfig, ScailDiT

SAT_PATH = Path("model/1/mp_rank_00_model_states.pt")
FSDP_PATH = Path("model/1/fsdp2_rank_0000_checkpoint.pt")
SAT_PREFIX = "model.diffusion_model."
KEY_COUNTS = {"scail": 1305, "scail2": 1307, "wan_i2v": 1303}
HEAD_DIM = 128  # every released Wan2.1 size; shapes alone do not tell the number of heads
CONFIG_METADATA = "scail_dit_config"
# The release folder a converted file came from: where `scail generate` finds its VAE, umT5, CLIP.
COMPONENTS_METADATA = "scail_components"

# SAT name -> wan-branch name(s). {i} block index, {j} index inside a Sequential, {p} weight|bias.
# Several targets mean the SAT tensor is those tensors stacked on dim 0, in this order.
SAT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mixins.adaln_layer.adaLN_modulations.{i}", ("blocks.{i}.modulation",)),
    ("mixins.adaln_layer.query_layernorm_list.{i}.{p}", ("blocks.{i}.self_attn.norm_q.{p}",)),
    ("mixins.adaln_layer.key_layernorm_list.{i}.{p}", ("blocks.{i}.self_attn.norm_k.{p}",)),
    ("mixins.adaln_layer.cross_query_layernorm_list.{i}.{p}", ("blocks.{i}.cross_attn.norm_q.{p}",)),
    ("mixins.adaln_layer.cross_key_layernorm_list.{i}.{p}", ("blocks.{i}.cross_attn.norm_k.{p}",)),
    ("mixins.adaln_layer.clip_feature_key_layernorm_list.{i}.{p}",
     ("blocks.{i}.cross_attn.norm_k_img.{p}",)),
    ("mixins.adaln_layer.clip_feature_key_value_list.{i}.{p}",
     ("blocks.{i}.cross_attn.k_img.{p}", "blocks.{i}.cross_attn.v_img.{p}")),
    ("mixins.final_layer.adaLN_modulation", ("head.modulation",)),
    ("mixins.final_layer.linear.{p}", ("head.head.{p}",)),
    ("mixins.patch_embed.proj.{p}", ("patch_embedding.{p}",)),
    ("mixins.patch_embed.proj_pose.{p}", ("patch_embedding_pose.{p}",)),
    ("mixins.patch_embed.proj_mask.{p}", ("patch_embedding_mask.{p}",)),
    ("transformer.layers.{i}.attention.query_key_value.{p}",
     ("blocks.{i}.self_attn.q.{p}", "blocks.{i}.self_attn.k.{p}", "blocks.{i}.self_attn.v.{p}")),
    ("transformer.layers.{i}.attention.dense.{p}", ("blocks.{i}.self_attn.o.{p}",)),
    ("transformer.layers.{i}.cross_attention.query.{p}", ("blocks.{i}.cross_attn.q.{p}",)),
    ("transformer.layers.{i}.cross_attention.key_value.{p}",
     ("blocks.{i}.cross_attn.k.{p}", "blocks.{i}.cross_attn.v.{p}")),
    ("transformer.layers.{i}.cross_attention.dense.{p}", ("blocks.{i}.cross_attn.o.{p}",)),
    ("transformer.layers.{i}.post_cross_attention_layernorm.{p}", ("blocks.{i}.norm3.{p}",)),
    ("transformer.layers.{i}.mlp.dense_h_to_4h.{p}", ("blocks.{i}.ffn.0.{p}",)),
    ("transformer.layers.{i}.mlp.dense_4h_to_h.{p}", ("blocks.{i}.ffn.2.{p}",)),
    ("time_embed.{j}.{p}", ("time_embedding.{j}.{p}",)),
    ("adaln_projection.{j}.{p}", ("time_projection.{j}.{p}",)),
    ("text_embedding.{j}.{p}", ("text_embedding.{j}.{p}",)),
    ("clip_proj.proj.{j}.{p}", ("img_emb.proj.{j}.{p}",)),
)


def _template_regex(template: str) -> re.Pattern:
    fields = {"{i}": r"(?P<i>\d+)", "{j}": r"(?P<j>\d+)", "{p}": r"(?P<p>weight|bias)"}
    pattern = re.escape(template)
    for field, group in fields.items():
        pattern = pattern.replace(re.escape(field), group)
    return re.compile(pattern + r"\Z")


_SAT_TO_WAN = [(_template_regex(sat), wan) for sat, wan in SAT_RULES]
_WAN_TO_SAT = [(_template_regex(wan[0]), sat, wan) for sat, wan in SAT_RULES]
_FUSED_PARTS = [_template_regex(part) for _, wan in SAT_RULES for part in wan[1:]]


# ---------------------------------------------------------------------------------------------
# Reading

@dataclass
class Checkpoint:
    """An opened checkpoint in wan-branch names: shapes known, tensors read on demand."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    read: Callable[[str], torch.Tensor]
    unknown: list[str]  # SAT names no rule maps
    num_heads: int | None = None  # from our own safetensors metadata, when present


def find_checkpoint_file(path: str | Path) -> Path:
    """The DiT file for a file path or an official checkpoint folder (SCAIL-Preview/, SCAIL-2/)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for relative in (SAT_PATH, FSDP_PATH):
            if (path / relative).is_file():
                return path / relative
        converted = sorted(path.glob("*.safetensors"))
        if len(converted) == 1:  # a `scail convert` file placed in the folder instead of model/1/
            return converted[0]
        raise CheckpointError(f"{path} holds no SCAIL DiT: expected {SAT_PATH} (SCAIL-Preview) or "
                              f"{FSDP_PATH} (SCAIL-2) inside it, nor one .safetensors file; point to the "
                              "downloaded model folder or to a .safetensors file")
    raise CheckpointError(f"checkpoint {path} does not exist; give the SCAIL model folder or a "
                          ".safetensors file")


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open any supported DiT checkpoint without reading its tensors yet."""
    file = find_checkpoint_file(path)
    if zipfile.is_zipfile(file):
        return _open_torch(file)
    return _open_safetensors(file)


def _open_safetensors(file: Path) -> Checkpoint:
    try:
        handle = safe_open(file, framework="pt", device="cpu")
        shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
        metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file} is neither a PyTorch checkpoint nor a readable safetensors "
                              f"file ({exc}); download it again or convert it with `scail convert`"
                              ) from exc
    num_heads = None
    if CONFIG_METADATA in metadata:
        num_heads = json.loads(metadata[CONFIG_METADATA]).get("num_heads")
    return Checkpoint(file, shapes, handle.get_tensor, [], num_heads)


class _StandIn:
    """Takes the place of any non-tensor class or function a checkpoint pickle refers to."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass


def _torch_load(file: Path) -> object:
    """torch.load restricted to tensors and containers, memory-mapped; other objects are stand-ins."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(file)
        stand_ins = [(type(f"StandIn[{name}]", (_StandIn,), {}), name) for name in names]
        with torch.serialization.safe_globals(stand_ins):
            return torch.load(file, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line]
        if refused:
            raise CheckpointError(f"{file} is not a plain checkpoint: loading it would run code "
                                  f"({refused[0]}), which this loader refuses; use the official "
                                  "download") from exc
        raise CheckpointError(f"{file} could not be read ({exc}); the download is probably "
                              "damaged: download it again") from exc
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError,
            TypeError) as exc:
        raise CheckpointError(f"{file} could not be read as a PyTorch checkpoint ({exc}); the "
                              "download is probably damaged: download it again") from exc


def _open_torch(file: Path) -> Checkpoint:
    loaded = _torch_load(file)
    state = loaded.get("module") if isinstance(loaded, dict) else None
    if state is None and isinstance(loaded, dict) and all(isinstance(v, torch.Tensor)
                                                          for v in loaded.values()):
        state = loaded
    if not isinstance(state, dict) or not state:
        keys = list(loaded)[:8] if isinstance(loaded, dict) else type(loaded).__name__
        raise CheckpointError(f"{file} has no model state dict (no 'module' entry; found {keys}); "
                              "it is not a SCAIL DiT checkpoint")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    unknown: list[str] = []
    if any(name.startswith(SAT_PREFIX) for name in tensors):
        tensors, unknown = sat_to_wan(tensors)
    return Checkpoint(file, {k: tuple(v.shape) for k, v in tensors.items()},
                      tensors.__getitem__, unknown)


def _sat_rule(name: str) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The fields ({i}, {j}, {p}) and wan-branch targets of a SAT name, or None if no rule knows it."""
    if name.startswith(SAT_PREFIX):
        for regex, wan in _SAT_TO_WAN:
            match = regex.match(name[len(SAT_PREFIX):])
            if match:
                return match.groupdict(), wan
    return None


def sat_to_wan(sat: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename SAT tensors to wan-branch names, splitting fused projections (views, no copies).

    Returns the renamed tensors and the SAT names that map to nothing.
    """
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for name, tensor in sat.items():
        rule = _sat_rule(name)
        if rule is None or tensor.shape[0] % len(rule[1]):
            unknown.append(name)
            continue
        fields, targets = rule
        for target, part in zip(targets, tensor.chunk(len(targets), dim=0)):
            out[target.format(**fields)] = part
    return out, unknown


def wan_to_sat(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of sat_to_wan: SAT names, fused projections stacked back together."""
    out: dict[str, torch.Tensor] = {}
    for name in state:
        for regex, sat, wan in _WAN_TO_SAT:
            match = regex.match(name)
            if match:
                fields = match.groupdict()
                parts = [state[t.format(**fields)] for t in wan]
                out[SAT_PREFIX + sat.format(**fields)] = torch.cat(parts) if len(parts) > 1 else parts[0]
                break
        else:
            if not any(regex.match(name) for regex in _FUSED_PARTS):
                raise ValueError(f"no SAT name for {name}")
    return out


def detect_variant(names: Iterable[str]) -> str:
    """"scail" or "scail2" from the tensor names; CheckpointError for other models."""
    names = set(names)
    if "patch_embedding_mask.weight" in names:
        return "scail2"
    if "patch_embedding_pose.weight" in names:
        return "scail"
    if "patch_embedding.weight" in names and any(n.startswith("blocks.") for n in names):
        kind = "Wan2.1-I2V" if "img_emb.proj.0.weight" in names else "Wan2.1 text-to-video"
        raise CheckpointError(f"this is plain {kind} ({len(names)} tensors; SCAIL has "
                              f"{KEY_COUNTS['scail']}, SCAIL-2 {KEY_COUNTS['scail2']}), not SCAIL: "
                              "it has no pose patch embedding. Point to the SCAIL-Preview or "
                              "SCAIL-2 checkpoint instead")
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
             on_tensor: Callable[[int, int], None] | None = None) -> ScailDiT:
    """Build the SCAIL DiT of any supported checkpoint, weights cast to dtype on device, eval mode.

    ``path`` is a SCAIL-Preview / SCAIL-2 model folder, one of their .pt files, or a
    wan-branch safetensors file. ``num_heads`` overrides dim // 128 for non-standard sizes.
    ``on_tensor(done, total)`` follows the reading (minutes for the real model).
    """
    checkpoint, config = read_config(path, num_heads)
    state = {}
    for index, name in enumerate(checkpoint.shapes):
        state[name] = checkpoint.read(name).to(device=device, dtype=dtype)
        if on_tensor is not None:
            on_tensor(index + 1, len(checkpoint.shapes))
    with torch.device("meta"):
        model = ScailDiT(config)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def convert(source: str | Path, target: str | Path, dtype: torch.dtype = torch.bfloat16) -> DitConfig:
    """Write any supported checkpoint as one wan-branch safetensors file, tensor by tensor.

    The release folder it came from is recorded in the file, so ``scail generate --checkpoint
    FILE`` finds the VAE, umT5 and CLIP there without being told again.
    """
    checkpoint, config = read_config(source)
    write_safetensors(Path(target), checkpoint.shapes, checkpoint.read, dtype, config,
                      components=release_folder(Path(source)))
    return config


def release_folder(source: Path) -> Path:
    """The folder of a release a DiT path belongs to (the folder itself, or above model/1/)."""
    source = source.resolve()
    if source.is_dir():
        return source
    if source.parent.parent.name == "model":
        return source.parents[2]
    return source.parent


def recorded_components(file: Path) -> Path | None:
    """The release folder ``scail convert`` recorded in a safetensors file, if any."""
    if zipfile.is_zipfile(file):
        return None
    try:
        with safe_open(file, framework="pt", device="cpu") as handle:
            folder = (handle.metadata() or {}).get(COMPONENTS_METADATA)
    except (SafetensorError, OSError, ValueError):
        return None
    return Path(folder) if folder else None


# ---------------------------------------------------------------------------------------------
# Writing (`scail convert`)

_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path: Path, shapes: dict[str, tuple[int, ...]],
                      read: Callable[[str], torch.Tensor], dtype: torch.dtype,
                      config: DitConfig | None = None, components: Path | None = None) -> None:
    """Stream tensors into a safetensors file so that only one is in memory at a time.

    The file appears only when complete (written beside it under a hidden name, then renamed
    by the output policy's ``atomic_file``).
    """
    if dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(f"unsupported dtype {dtype}")
    itemsize = torch.empty((), dtype=dtype).element_size()
    header: dict = {"__metadata__": {"format": "pt"}}
    if config is not None:
        header["__metadata__"][CONFIG_METADATA] = json.dumps(asdict(config))
    if components is not None:
        header["__metadata__"][COMPONENTS_METADATA] = str(components)
    offset = 0
    names = sorted(shapes)
    for name in names:
        size = math.prod(shapes[name]) * itemsize
        header[name] = {"dtype": _SAFETENSORS_DTYPES[dtype], "shape": list(shapes[name]),
                        "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with atomic_file(path, "checkpoint") as partial, partial.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for name in names:
            tensor = read(name).to(dtype).contiguous()
            out.write(tensor.reshape(-1).view(torch.uint8).numpy().data)
