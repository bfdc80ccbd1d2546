"""ComfyUI's int8, mxfp8 and nvfp4 linear layers (comfy-kitchen layouts), kept in their stored size.

How each layer is stored (facts from comfy-kitchen ``comfy_kitchen/tensor/int8.py``, ``mxfp8.py``,
``nvfp4.py``, ``int8_utils.py``, ``float_utils.py``, ``backends/eager/quantization.py``, and
ComfyUI ``comfy/ops.py`` ``_load_quantized_module`` / ``comfy/quant_ops.py`` ``QUANT_ALGOS``):

- ``int8_tensorwise``: int8 ``weight`` [out, in] and a float32 ``weight_scale``, one per tensor
  (shape [] or [1]) or one per output row ([out, 1], written by the per-channel quantiser);
  weight = q * scale. With ``"convrot": true`` in the layer's JSON the stored rows were rotated
  first, group by group along the input axis (``convrot_groupsize``, default 256, a power of 4),
  by the normalised regular Hadamard matrix: the Kronecker power of the 4 x 4 matrix with ones
  everywhere but -1 on its anti-diagonal, divided by sqrt(size). That matrix is symmetric and
  orthogonal, so the same grouped product undoes the rotation.
- ``mxfp8``: float8_e4m3fn ``weight`` [rows, cols] (rows and cols padded with zeros to multiples
  of 32) and an E8M0 ``weight_scale`` (stored as uint8, viewed as float8_e8m0fnu): one
  power-of-two scale per 32 consecutive weights of a row, 2^(e - 127), e = 0 meaning 0
  (comfy-kitchen's e8m0_to_f32; torch's own float8_e8m0fnu would read 2^-127).
- ``nvfp4``: uint8 ``weight`` [rows, cols / 2] (rows and cols padded to multiples of 16), two
  E2M1 codes per byte, the even column in the high nibble (the reverse of NVIDIA's packing, as
  kijai's Kijai/WanVideo_comfy_nvfp4 model card notes too); a code's bit 3 is its sign, bits 0-2
  index 0, 0.5, 1, 1.5, 2, 3, 4, 6. ``weight_scale`` holds one float8_e4m3fn scale per 16
  weights of a row, ``weight_scale_2`` one float32 scale per tensor: weight = code value *
  weight_scale_2 * block scale. An optional ``pre_quant_scale`` [in] multiplies the input
  (ModelOpt's smoothing): folded here into the weight's columns.
- Block scales (mxfp8, nvfp4) are stored in cuBLAS's swizzled layout: the [rows, blocks] matrix
  padded to multiples of 128 x 4, cut into 128 x 4 tiles stored one after the other (a row of
  tiles at a time), the tile's row r = 32 i + j and column c at offset 16 j + 4 i + c.
- ``input_scale`` is an activation scale for low-precision matmuls; weight-only use ignores it.

The file does not record a padded layer's true shape (ComfyUI takes it from the model), so a
layer's shape is its padded one; the DiT's sizes are multiples of 128, where nothing is padded.

``BlockQuantLinear`` keeps the stored bytes and dequantises its weight at each call, as
``GgmlLinear`` does (weight-only: inputs untouched, one layer's float copy at a time). No
low-precision matmul is used: int8 and fp8 tensor-core paths would quantise the activations too,
mxfp8/nvfp4 matmuls need Blackwell, and neither is testable on the CPU.
"""

from __future__ import annotations

import functools
import math

import torch

from .packed_linear import PackedLinear

FORMATS = ("int8_tensorwise", "mxfp8", "nvfp4")
BLOCK = {"mxfp8": 32, "nvfp4": 16}  # weights per block scale
PAD = {"mxfp8": 32, "nvfp4": 16}  # rows and columns are padded to multiples of this
E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
DEFAULT_GROUP = 256


def scale_grid(rows: int, blocks: int) -> tuple[int, int]:
    """The stored (swizzled) block-scale shape of a [rows, blocks] scale matrix."""
    return math.ceil(rows / 128) * 128, math.ceil(blocks / 4) * 4


def unswizzle(stored: torch.Tensor, rows: int, blocks: int) -> torch.Tensor:
    """The plain [rows, blocks] scale matrix from cuBLAS's tiled layout (module docstring)."""
    padded_rows, padded_blocks = scale_grid(rows, blocks)
    tiles = stored.reshape(padded_rows // 128, padded_blocks // 4, 32, 4, 4)  # [row tile, col tile, j, i, c]
    plain = tiles.permute(0, 3, 2, 1, 4).reshape(padded_rows, padded_blocks)
    return plain[:rows, :blocks]


def logical_shape(fmt: str, stored: tuple[int, ...]) -> tuple[int, int]:
    """A layer's weight shape from its stored one (nvfp4 packs two columns per byte)."""
    rows, cols = stored
    return (rows, cols * 2) if fmt == "nvfp4" else (rows, cols)


def expected_scales(fmt: str, stored: tuple[int, ...]) -> dict[str, tuple[int, ...] | None]:
    """Each scale a layer needs and its element count's shape (None: one, or one per row)."""
    rows, cols = logical_shape(fmt, stored)
    if fmt == "int8_tensorwise":
        return {"weight_scale": None}
    grid = scale_grid(rows, cols // BLOCK[fmt])
    return {"weight_scale": grid, **({"weight_scale_2": (1,)} if fmt == "nvfp4" else {})}


@functools.cache
def _hadamard(size: int, device: torch.device) -> torch.Tensor:
    h4 = torch.ones(4, 4)
    h4[[0, 1, 2, 3], [3, 2, 1, 0]] = -1
    matrix = torch.ones(1, 1)
    while matrix.shape[0] < size:
        matrix = torch.kron(matrix, h4)
    return (matrix / math.sqrt(size)).to(device)


@functools.cache
def _e2m1_pairs(device: torch.device) -> torch.Tensor:
    """[256, 2]: the values of a byte's two codes, even column (high nibble) first."""
    values = torch.tensor(E2M1)
    codes = torch.cat([values, -values])  # bit 3 is the sign
    byte = torch.arange(256)
    return torch.stack([codes[byte >> 4], codes[byte & 0x0F]], dim=-1).to(device)


def dequantise(fmt: str, weight: torch.Tensor, scale: torch.Tensor, scale_2: torch.Tensor | None = None,
               group: int = 0) -> torch.Tensor:
    """One stored layer as float32 (its padded shape): the formulas of the module docstring."""
    if fmt == "int8_tensorwise":
        rows = weight.shape[0]
        out = weight.float().mul_(scale.float().reshape(()) if scale.numel() == 1 else scale.float().reshape(rows, 1))
        if group:
            grouped = out.reshape(rows, -1, group)
            out = (grouped @ _hadamard(group, weight.device)).reshape(rows, -1)
        return out
    if fmt == "mxfp8":
        rows, cols = weight.shape
        exponents = unswizzle(scale.view(torch.uint8), rows, cols // 32).to(torch.int32)
        factors = (exponents << 23).view(torch.float32)  # the float32 with that biased exponent: 2^(e - 127); e = 0 gives 0
        return weight.float().reshape(rows, -1, 32).mul_(factors.unsqueeze(-1)).reshape(rows, cols)
    # Each byte looked up as its (high, low) pair of values: a call holds one int32 index per byte
    # and the floats, which are then scaled in place.
    rows, cols = weight.shape[0], weight.shape[1] * 2
    values = _e2m1_pairs(weight.device).index_select(0, weight.reshape(-1).int())  # int32: no int64 copy
    blocks = unswizzle(scale.view(torch.float8_e4m3fn), rows, cols // 16).float() * scale_2.float().reshape(())
    return values.reshape(rows, -1, 16).mul_(blocks.unsqueeze(-1)).reshape(rows, cols)


class BlockQuantLinear(PackedLinear):
    """A Linear whose weight stays in ComfyUI's int8 / mxfp8 / nvfp4 storage, dequantised per call
    (packed_linear.py)."""

    def __init__(self, fmt: str, weight: torch.Tensor, scale: torch.Tensor, scale_2: torch.Tensor | None,
                 pre_quant_scale: torch.Tensor | None, group: int, shape: tuple[int, int],
                 bias: torch.Tensor | None, compute_dtype: torch.dtype) -> None:
        super().__init__({"weight": weight, "weight_scale": scale, "weight_scale_2": scale_2,
                          "pre_quant_scale": pre_quant_scale}, shape, bias, compute_dtype)
        self.fmt, self.group = fmt, group

    def unpacked(self) -> torch.Tensor:
        weight = dequantise(self.fmt, self.weight, self.weight_scale, self.weight_scale_2, self.group)
        weight = weight[: self.shape[0], : self.shape[1]]
        if self.pre_quant_scale is not None:
            weight = weight * self.pre_quant_scale.float()
        return weight

    def storage(self) -> str:
        return f"format={self.fmt}"
