"""Tiny GGUF DiT files written the way city96's ComfyUI-GGUF tools write Wan GGUFs.

``tools/convert.py`` (arch "wan", names without ComfyUI's prefix; 1-D tensors, tensors of at
most 1024 values and ``.modulation`` in F32, every other tensor in the source's F16/BF16; 5-D
tensors left out), then llama-quantize with its Wan rules (``tools/lcpp.patch``: modulation,
patch_embedding, text_embedding, time_projection, time_embedding, img_emb and head stay
unquantised; the rest, the blocks' linears, take the file's type), then ``fix_5d_tensors.py``
(each 5-D weight added back in F32 right after its bias). Written through the gguf package's
own GGUFWriter and gguf.quants.

gguf.quants has no quantiser for the K types, so their blocks are drawn at random (fp16 scales
of a sane size, random quants and sub-block scales): the file is what matters, and the weights
it stands for are gguf.quants.dequantize of those bytes, returned with the path.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

GGML = gguf.GGMLQuantizationType
KEEP = ("modulation.", "patch_embedding.", "text_embedding.", "time_projection.", "time_embedding.", "img_emb.", "head.")
FILE_TYPES = {GGML.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0, GGML.Q4_0: gguf.LlamaFileType.MOSTLY_Q4_0,
              GGML.Q5_1: gguf.LlamaFileType.MOSTLY_Q5_1, GGML.Q4_K: gguf.LlamaFileType.MOSTLY_Q4_K_M,
              GGML.Q5_K: gguf.LlamaFileType.MOSTLY_Q5_K_M, GGML.Q6_K: gguf.LlamaFileType.MOSTLY_Q6_K}
# Byte offsets of the fp16 scale fields inside one block, per K type.
K_HALVES = {GGML.Q4_K: (0, 2), GGML.Q5_K: (0, 2), GGML.Q6_K: (208,)}


def random_blocks(qtype: GGML, values: int, seed: int, size: float = 0.004) -> np.ndarray:
    """Valid random blocks for ``values`` weights of a K type, fp16 scale fields near ``size``."""
    block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(values // block, nbytes), dtype=np.uint8)
    for offset in K_HALVES[qtype]:
        halves = rng.uniform(0.5 * size, 1.5 * size, len(raw)).astype(np.float16)
        raw[:, offset:offset + 2] = halves.view(np.uint8).reshape(-1, 2)
    return raw


def encode(name: str, data: np.ndarray, qtype: GGML, float_type: GGML, seed: int) -> tuple[GGML, np.ndarray, np.ndarray]:
    """(stored type, stored array, the weights it stands for) for one tensor, by the tools' rules."""
    kind = qtype
    if data.ndim == 1 or data.size <= 1024 or ".modulation" in name:
        kind = GGML.F32
    elif any(key in name for key in KEEP):
        kind = float_type
    if kind in K_HALVES:
        # Weights of about d * 8 (mid sub-block scale, mid quant): near the float ones' 1/sqrt(fan-in).
        raw = random_blocks(kind, data.size, seed, 0.5 / np.sqrt(data.shape[1]) / 8 / 32).reshape(data.shape[0], -1)
    else:
        raw = gguf.quants.quantize(data, kind)
    return kind, raw, gguf.quants.dequantize(raw, kind).reshape(data.shape)


def write_gguf(state: dict[str, torch.Tensor], path: Path, qtype: GGML, float_type: GGML = GGML.F16,
               prefix: str = "", arch: str = "wan") -> tuple[Path, dict[str, torch.Tensor]]:
    """Write ``state`` as a quantised Wan GGUF; returns the path and the weights the file holds."""
    writer = gguf.GGUFWriter(path=None, arch=arch)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(FILE_TYPES.get(qtype, gguf.LlamaFileType.MOSTLY_F16))
    held: dict[str, torch.Tensor] = {}
    five_d: dict[str, np.ndarray] = {}
    for index, (name, tensor) in enumerate(state.items()):
        data = tensor.float().numpy()
        if data.ndim > 4:  # convert.py leaves these out; fix_5d_tensors.py adds them back in F32
            five_d[name] = data
            continue
        kind, raw, values = encode(name, data, qtype, float_type, seed=index)
        writer.add_tensor(prefix + name, raw, raw_dtype=kind)
        held[name] = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        weight = name.replace(".bias", ".weight")
        if weight in five_d:
            writer.add_tensor(prefix + weight, five_d[weight], raw_dtype=GGML.F32)
            held[weight] = torch.from_numpy(five_d.pop(weight))
    for name, data in five_d.items():
        writer.add_tensor(prefix + name, data, raw_dtype=GGML.F32)
        held[name] = torch.from_numpy(data)
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path, held
