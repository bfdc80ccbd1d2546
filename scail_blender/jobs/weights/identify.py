"""What a model file is, from its header alone: never its file name, never its tensors.

One public function, ``identify(path)``, opens the header of a file and names its role (the SCAIL
DiT, the Wan2.1 VAE, the umT5-xxl encoder, the CLIP ViT-H/14 vision tower, a LoRA, the umT5
tokenizer) from its tensor names, with the layout and dtype it was written in. Headers only:

- safetensors: the 8-byte length and the JSON header (names, dtypes, shapes), and the few bytes of
  each ComfyUI ``.comfy_quant`` tensor (its layer's quantisation JSON: int8, mxfp8, nvfp4...);
- PyTorch zip files (the official ``.pth``/``.pt``): the ``data.pkl`` entry walked with
  ``pickletools`` (its strings are the state dict's keys, the ints after each storage id the
  shapes, its storage classes the dtypes), never unpickled, so nothing in a downloaded file runs
  and no tensor is read;
- GGUF: the key/value header and the tensor table (names, ggml types);
- ``tokenizer.json``: its first 64 KB (a tokenizers file with T5's ``</s>`` and without the
  ``<mask>`` token of the CLIP's xlm-roberta tokenizer, which the Wan release ships too).

A DiT's tensor names are checked against the whole model's (``dit_names``): a file with a tensor
missing is refused as loading would refuse it. Refused too, by name: Wan models that are not SCAIL,
a VAE of another latent width (Wan2.2's 48), CLIP towers of another width (ViT-L, bigG) and T5
encoders with one shared position bias (T5 v1.1, not umT5).

This runs without torch, so Blender fills its DiT menu from it when the add-on is enabled. The
engine's loaders read the tensors themselves and check them again; a file this module accepts can
still be refused there (damaged tensors, shapes of another size, quantisations it cannot read).
"""

from __future__ import annotations

import json
import pickletools
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..contract import VARIANT_NAMES
from .dit_names import SAT_PREFIX, is_wan_dit, missing_names, scail_variant, wan_names

# Prefixes writers put before the wan-branch / SAT names (ComfyUI checkpoints, LoRA-style dumps).
# ComfyUI's scaled fp8 (its convert_old_quants): a per-tensor scale beside each fp8 weight, old and
# new name, and the marker tensor of the old form; the engine's fp8 readers use these names too.
WEIGHT_SCALES = (".scale_weight", ".weight_scale")
SCALED_FP8_MARKER = "scaled_fp8"
# ComfyUI's per-layer quantisation (a uint8 ``<layer>.comfy_quant`` JSON tensor, or all layers in the
# header's ``_quantization_metadata``): the formats the engine reads (comfy/quant_ops.py's
# QUANT_ALGOS names; engine/checkpoints/comfy.py), as listings name them. Others are refused by name.
QUANT_CONFIG, QUANT_METADATA = ".comfy_quant", "_quantization_metadata"
COMFY_QUANT_FORMATS = {"float8_e4m3fn": "fp8 e4m3fn scaled", "float8_e5m2": "fp8 e5m2 scaled",
                       "int8_tensorwise": "int8", "mxfp8": "mxfp8", "nvfp4": "nvfp4"}
QUANT_FORMATS_KEY = "comfy quantisation formats"  # where the header reader leaves them: {format: layers}
PREFIXES = (SAT_PREFIX, "diffusion_model.", "model.", "module.")  # SAT's prefix is ComfyUI's checkpoint prefix
LORA_MARKERS = (".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", "lora_unet_", ".diff_b", ".lora.down.", ".lora.up.")
# Files worth opening: every weight container the tools write, and tokenizer files.
WEIGHT_SUFFIXES = {".safetensors", ".sft", ".pt", ".pth", ".bin", ".ckpt", ".gguf"}
# A MultiAnimate checkpoint folder: DeepSpeed's zero_to_fp32 output in output_dir/ (engine/multianimate).
MA_DIR, MA_STEM, MA_INDEX = "output_dir", "model", "model.safetensors.index.json"
TOKENIZER_FILE = "tokenizer.json"  # the one fixed name: the tokenizers library only reads this file
HEADER_LIMIT = 100 * 2**20  # a safetensors header or data.pkl larger than this is not a model file
GGML_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
              11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 30: "BF16"}
SAFETENSORS_DTYPES = {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F8_E4M3": "fp8 e4m3fn", "F8_E5M2": "fp8 e5m2",
                      "I8": "int8", "U8": "uint8"}
# Vision towers a ComfyUI clip_vision/ folder may hold besides ViT-H/14 (1280 wide), by patch-embedding width.
OTHER_CLIP_WIDTHS = {1024: "CLIP ViT-L/14 (clip_vision_l)", 1664: "CLIP ViT-bigG/14 (clip_vision_g)"}
CLIP_PATCH_EMBEDDINGS = ("visual.patch_embedding.weight", "vision_model.embeddings.patch_embedding.weight",
                         "visual.conv1.weight")
NOT_UMT5 = ("a T5 encoder but not umT5 (one shared position bias, as T5 v1.1 and Flux's t5xxl have, not one "
            "per layer): Wan needs umt5_xxl_*.safetensors or the release's umt5-xxl .pth")
PICKLE_INTS = {"BININT", "BININT1", "BININT2", "LONG1", "INT", "LONG"}
PICKLE_TUPLES = {"EMPTY_TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "TUPLE"}
STORAGE_DTYPES = {"BFloat16Storage": "bf16", "HalfStorage": "fp16", "FloatStorage": "fp32",
                  "Float8_e4m3fnStorage": "fp8 e4m3fn"}


@dataclass(frozen=True)
class FileInfo:
    """What one file is. ``role``: "dit", "vae", "t5", "clip", "lora", "tokenizer" or "other"
    (not a file SCAIL uses); ``refused``: why a file of a known kind cannot serve (another model)."""

    path: Path
    role: str
    container: str  # "safetensors", "torch", "gguf", "json"
    layout: str = ""  # how it was written: "SAT (SCAIL-Preview release)", "ComfyUI", "GGUF Q4_K"...
    variant: str = ""  # a DiT's model: "scail" (SCAIL-Preview) or "scail2"
    dtype: str = ""
    size: int = 0
    refused: str = ""
    tensors: int = field(default=0, compare=False)
    blocks: int = 0  # a CLIP tower's layers (ViT-H/14: 32)

    @property
    def usable(self) -> bool:
        return self.role != "other" and not self.refused

    def describe(self) -> str:
        """One line for listings: what the file is and how it is stored."""
        what = {"dit": {"scail": "SCAIL-Preview DiT", "scail2": "SCAIL-2 DiT"}.get(self.variant, "DiT"),
                "vae": "Wan2.1 VAE", "t5": "umT5-xxl encoder", "clip": "CLIP ViT-H/14 vision", "lora": "LoRA",
                "tokenizer": "umT5 tokenizer"}.get(self.role, "not a SCAIL file")
        parts = [p for p in (self.layout, self.dtype) if p]
        text = f"{what} ({', '.join(parts)})" if parts else what
        return f"{text}: {self.refused}" if self.refused else text


def is_candidate(path: Path) -> bool:
    """Whether a file found in a folder is worth opening (weight containers and tokenizer.json)."""
    return path.suffix.lower() in WEIGHT_SUFFIXES or path.name == TOKENIZER_FILE


def identify(path: str | Path) -> FileInfo:
    """What ``path`` is, from its header; role "other" for anything SCAIL does not use (an
    unreadable or foreign file is "other" with the reason in ``refused``)."""
    path = Path(path)
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
        if head[:4] == b"GGUF":
            names, dtypes, meta = _gguf_header(path)
            container = "gguf"
        elif zipfile.is_zipfile(path):
            names, dtypes, meta = _torch_header(path)
            container = "torch"
        elif path.name == TOKENIZER_FILE or head[:1] == b"{":
            return _tokenizer(path, size)
        else:
            names, dtypes, meta = _safetensors_header(path, head)
            container = "safetensors"
    except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error, zipfile.BadZipFile, EOFError) as exc:
        return FileInfo(path, "other", "", size=size, refused=f"not a readable model file ({exc})")
    return _classify(path, container, names, dtypes, meta, size)


def _safetensors_header(path: Path, head: bytes) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict]:
    (length,) = struct.unpack("<Q", head)
    if not 2 <= length <= HEADER_LIMIT:
        raise ValueError("no safetensors header")
    with path.open("rb") as handle:
        handle.seek(8)
        header = json.loads(handle.read(length))
    meta = header.pop("__metadata__", None) or {}
    shapes = {k: tuple(v["shape"]) for k, v in header.items()}
    formats = _quant_formats(path, 8 + length, header, meta)
    if formats:
        meta = {**meta, QUANT_FORMATS_KEY: formats}
    return shapes, {k: v["dtype"] for k, v in header.items()}, meta


def _quant_formats(path: Path, data_start: int, header: dict, meta: dict) -> dict[str, int]:
    """How many layers use each ComfyUI quantisation format ("?" for unreadable JSON): read from
    the header's ``_quantization_metadata`` and the small ``.comfy_quant`` tensors (a few bytes each)."""
    configs: list[object] = []
    if QUANT_METADATA in meta:
        try:
            configs += list(json.loads(meta[QUANT_METADATA]).get("layers", {}).values())
        except (ValueError, AttributeError):
            configs.append(None)
    entries = [v for k, v in header.items() if k.endswith(QUANT_CONFIG)]
    if entries:
        with path.open("rb") as handle:
            for entry in entries:
                start, end = entry["data_offsets"]
                handle.seek(data_start + start)
                try:
                    configs.append(json.loads(handle.read(min(end - start, 65536))))
                except ValueError:
                    configs.append(None)
    counts: dict[str, int] = {}
    for config in configs:
        name = str(config.get("format", "?")) if isinstance(config, dict) else "?"
        counts[name] = counts.get(name, 0) + 1
    return counts


def _torch_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict]:
    """The string keys, their tensors' shapes and the storage classes of a PyTorch zip's pickle,
    read as opcodes only. torch.save writes each tensor after its key as ``_rebuild_tensor_v2``'s
    arguments: the storage's persistent id (BINPERSID), the offset, then the shape as the first
    tuple of ints; a key whose value is not so written keeps the empty shape (unknown)."""
    with zipfile.ZipFile(path) as archive:
        entry = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if entry is None or archive.getinfo(entry).file_size > HEADER_LIMIT:
            raise ValueError("a zip file without a PyTorch pickle")
        data = archive.read(entry)
    names: dict[str, tuple[int, ...]] = {}
    storages: set[str] = set()
    key, ints = None, None  # the last key seen; the ints after its storage id (offset, then shape)
    for opcode, arg, _ in pickletools.genops(data):
        if isinstance(arg, str):
            if opcode.name in ("GLOBAL", "STACK_GLOBAL") or arg.endswith("Storage"):
                storages.add(arg.split()[-1])
            elif "." in arg:
                names[arg], key, ints = (), arg, None
        elif key is not None and opcode.name == "BINPERSID":
            ints = []
        elif ints is not None and opcode.name in PICKLE_INTS:
            ints.append(arg)
        elif ints is not None and opcode.name in PICKLE_TUPLES:
            names[key] = tuple(ints[1:])
            key, ints = None, None
    found = sorted({STORAGE_DTYPES[s] for s in storages if s in STORAGE_DTYPES})
    return names, ({"*": "/".join(found)} if found else {}), {}


def _gguf_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict]:
    """Tensor names, ggml types and the key/value metadata of a GGUF file (versions 2 and 3)."""
    with path.open("rb") as handle:
        def read(fmt: str):
            size = struct.calcsize(fmt)
            chunk = handle.read(size)
            if len(chunk) != size:
                raise EOFError("the GGUF header ends early")
            return struct.unpack("<" + fmt, chunk)[0]

        def string() -> str:
            length = read("Q")
            if length > HEADER_LIMIT:
                raise ValueError("a GGUF string longer than any header")
            return handle.read(length).decode()

        scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

        def value(kind: int):
            if kind == 8:
                return string()
            if kind == 9:
                item, count = read("I"), read("Q")
                return [value(item) for _ in range(count)]
            return read(scalar[kind])

        handle.read(4)
        if read("I") < 2:
            raise ValueError("GGUF version 1 is not supported; convert the file again")
        tensor_count, kv_count = read("Q"), read("Q")
        meta = {}
        for _ in range(kv_count):
            key = string()
            meta[key] = value(read("I"))
        shapes, types = {}, {}
        for _ in range(tensor_count):
            name = string()
            dims = tuple(read("Q") for _ in range(read("I")))
            types[name] = GGML_TYPES.get(read("I"), "other")
            read("Q")  # the tensor's offset in the data section
            shapes[name] = tuple(reversed(dims))  # GGUF lists dimensions innermost first
    return shapes, types, meta


def _tokenizer(path: Path, size: int) -> FileInfo:
    with path.open("rb") as handle:
        text = handle.read(65536).decode("utf-8", errors="replace")
    if text.lstrip().startswith("{") and '"added_tokens"' in text and "</s>" in text and '"<mask>"' not in text:
        return FileInfo(path, "tokenizer", "json", layout="tokenizers JSON", size=size)
    return FileInfo(path, "other", "json", size=size)  # another tokenizer (xlm-roberta's has <mask>) or JSON


def _strip(names: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The names without the diffusion-model prefixes (on any name: a pickle's strings hold more
    than the keys), or without a generic prefix every name carries."""
    for prefix in PREFIXES[2:]:
        if names and all(n.startswith(prefix) for n in names):
            names = {n[len(prefix):]: s for n, s in names.items()}
            break
    return {next((n[len(p):] for p in PREFIXES[:2] if n.startswith(p)), n): s for n, s in names.items()}


def _classify(path: Path, container: str, names: dict[str, tuple[int, ...]], dtypes: dict[str, str],
              meta: dict, size: int) -> FileInfo:
    stripped = _strip(names)
    dtype = _dtype(names, dtypes, meta)
    info = dict(path=path, container=container, size=size, dtype=dtype, tensors=len(names))
    if any(m in n for n in names for m in LORA_MARKERS):
        return FileInfo(role="lora", layout=_lora_layout(names), **info)
    wan = wan_names(stripped)
    if is_wan_dit(wan):
        return _dit(wan, names, container, info, meta.get(QUANT_FORMATS_KEY, {}))
    if "encoder.conv1.weight" in stripped and "decoder.conv1.weight" in stripped and "conv2.weight" in stripped:
        z_dim = (stripped["conv2.weight"] or (16,))[0]
        refused = "" if z_dim == 16 else (f"a VAE with {z_dim} latent channels (Wan2.2's has 48), not Wan2.1's 16: "
                                          "use Wan2.1_VAE.pth or ComfyUI's wan_2.1_vae.safetensors")
        return FileInfo(role="vae", layout=_layout(container, "official" if container == "torch" else "ComfyUI"),
                        refused=refused, **info)
    if "token_embedding.weight" in stripped and "blocks.0.pos_embedding.embedding.weight" in stripped:
        shared = any(n.startswith("blocks.1.") for n in stripped) and "blocks.1.pos_embedding.embedding.weight" not in stripped
        return FileInfo(role="t5", layout=_layout(container, "official"), refused=NOT_UMT5 if shared else "", **info)
    if "encoder.block.0.layer.0.SelfAttention.q.weight" in stripped:
        umt5 = "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" in stripped
        return FileInfo(role="t5", layout=_layout(container, "ComfyUI / transformers names"),
                        refused="" if umt5 else NOT_UMT5, **info)
    return _clip(stripped, container, info)


def _clip(stripped: dict[str, tuple[int, ...]], container: str, info: dict) -> FileInfo:
    layers = {int(m.group(1)) for n in stripped
              if (m := re.match(r"(?:visual\.transformer(?:\.resblocks)?|vision_model\.encoder\.layers)\.(\d+)\.", n))}
    embedding = next((n for n in CLIP_PATCH_EMBEDDINGS if n in stripped), None)
    if not layers and embedding is None:
        sample = ", ".join(sorted(stripped)[:3]) or "no tensors"
        return FileInfo(role="other", refused=f"not a SCAIL DiT, Wan2.1 VAE, umT5, CLIP vision H or LoRA ({sample})",
                        **info)
    width = (stripped[embedding] or (0,))[0] if embedding else 0
    refused = (f"{OTHER_CLIP_WIDTHS[width]}; SCAIL needs CLIP ViT-H/14 (clip_vision_h.safetensors or the release's "
               "open-clip .pth)") if width in OTHER_CLIP_WIDTHS else ""
    official = any(n.startswith("visual.") for n in stripped)
    # Sizes come from the shapes (tiny test files have a few layers); ViT-H/14 has 32, and a
    # ComfyUI clip_vision/ folder may also hold ViT-L or bigG towers: the finder prefers 32.
    # open_clip writes visual.transformer.resblocks.N (ComfyUI converts it on load), the Wan release
    # visual.transformer.N, transformers and ComfyUI vision_model.encoder.layers.N
    layout = "official open-clip" if official else "ComfyUI / transformers names"
    return FileInfo(role="clip", layout=_layout(container, layout), blocks=max(layers, default=-1) + 1,
                    refused=refused, **info)


def _dit(wan: set[str], names: dict[str, tuple[int, ...]], container: str, info: dict,
         formats: dict[str, int]) -> FileInfo:
    """A Wan DiT in wan-branch names (``wan``; ``names`` as stored; ``formats`` its ComfyUI
    quantisations): its layout, variant, and why it cannot serve (another model, tensors missing,
    a quantisation the engine does not read)."""
    variant, other = scail_variant(wan)
    if container == "torch":
        layout = "SAT (SCAIL-Preview release)" if variant == "scail" else "SCAIL-2 release (FSDP)"
    elif container == "gguf":
        layout = "GGUF"
    elif (any(n.startswith(SAT_PREFIX) for n in names) or any(n.endswith((SCALED_FP8_MARKER, QUANT_CONFIG)) for n in names)
          or formats):
        layout = "ComfyUI"
    elif any(n.endswith(WEIGHT_SCALES) for n in names) or "fp8" in info["dtype"]:
        layout = "kijai fp8"
    else:
        layout = "wan-branch safetensors"
    unread = sorted(set(formats) - set(COMFY_QUANT_FORMATS))
    refused = f"this is {other}, not SCAIL" if other else _incomplete(wan, variant)
    if unread and not refused:
        refused = (f"ComfyUI's {', '.join(unread)} quantisation, which scail-blender does not read ('?': unreadable "
                   "JSON); use the fp16/bf16, fp8, int8, mxfp8 or nvfp4 file of the same model")
    return FileInfo(role="dit", layout=layout, variant=variant, refused=refused, **info)


def _incomplete(wan: set[str], variant: str) -> str:
    """Why a SCAIL DiT's names are not the whole model ('' when they are), in loading's words."""
    missing, total = missing_names(wan, variant)
    if not missing:
        return ""
    more = f" ... and {len(missing) - 3} more" if len(missing) > 3 else ""
    return (f"{len(missing)} missing of the {total} tensors of the {VARIANT_NAMES[variant]} DiT it looks like "
            f"({', '.join(missing[:3])}{more}): the file is incomplete or damaged; download it again")


def _dtype(names: dict[str, tuple[int, ...]], dtypes: dict[str, str], meta: dict) -> str:
    """The dtype most of the weight bytes are in ("fp8 e4m3fn scaled", "Q4_K", "bf16"...)."""
    if "*" in dtypes:
        return dtypes["*"]
    formats = meta.get(QUANT_FORMATS_KEY)
    if formats:  # ComfyUI's per-layer quantisation, most layers first: "nvfp4", "int8 + fp8 e4m3fn scaled"
        return " + ".join(COMFY_QUANT_FORMATS.get(f, f) for f in sorted(formats, key=lambda f: (-formats[f], f)))
    weight = {}
    for name, kind in dtypes.items():
        shape = names.get(name, ())
        count = 1
        for d in shape:
            count *= d
        weight[kind] = weight.get(kind, 0) + count
    if not weight:
        return ""
    main = max(weight, key=weight.get)
    text = SAFETENSORS_DTYPES.get(main, main)
    if text.startswith("fp8") and any(n.endswith(WEIGHT_SCALES) for n in names):
        text += " scaled"
    return text


def _lora_layout(names: dict[str, tuple[int, ...]]) -> str:
    if any(n.startswith("lora_unet_") for n in names):
        return "kohya"
    if any(".lora_A." in n or ".lora_B." in n for n in names):
        return "diffusers/PEFT"
    return "ComfyUI / lightx2v"


def _layout(container: str, names: str) -> str:
    return f"{names}, GGUF" if container == "gguf" else names


def is_multianimate_folder(path: str | Path) -> bool:
    """Whether ``path`` is laid out as a MultiAnimate checkpoint folder (``output_dir/`` or its
    ``model-k-of-n`` shards), from names alone: which pipeline the runner builds for it, and
    which inputs the panel gives its jobs."""
    path = Path(path)
    return path.is_dir() and ((path / MA_DIR).is_dir() or (path / MA_INDEX).is_file()
                              or any(path.glob(f"{MA_STEM}-*-of-*.safetensors")))
