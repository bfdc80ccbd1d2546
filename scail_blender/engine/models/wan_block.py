"""The Wan2.1 transformer block that SCAIL inherits unchanged, and the layers it is made of.

Precision follows the official code, which ran the whole model under bf16 autocast with some
parts forced back to float32. Here the casts are written out instead of relying on autocast
(whose op lists differ between CPU and CUDA), so the same numbers come out on both:

- matrix multiplies run in the weights' dtype (bf16 for inference), whatever the input dtype;
- layer norms, RMS norms and the adaLN modulation run in float32;
- the residual stream becomes float32 after the first residual add and stays so;
- the time embedding, its projection and the output head run entirely in float32.

With float32 weights everything is float32, which is what the parity tests compare.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .attention import attention
from .rope import apply_rope


class Linear(nn.Linear):
    """nn.Linear that casts its input to the weight dtype (what autocast did for the official code)."""

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype inputs are cast to (fp8 layers, fp8.py, compute from bf16 inputs instead)."""
        return self.weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.to(self.weight.dtype))


class FloatLinear(nn.Linear):
    """nn.Linear computed in float32 with upcast weights (time embedding, head)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.float()
        return F.linear(x.float(), self.weight.float(), bias)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32, returned in the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


class RMSNorm(nn.Module):
    """RMS norm over the full width (all heads together), normalised in float32."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return normed.to(x.dtype) * self.weight


def heads_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kernel: str) -> torch.Tensor:
    """Full attention of q [B, Lq, heads, d] over k, v [B, Lk, heads, d] -> [B, Lq, heads * d].

    q and k come out of RoPE in float32; like the official flash-attention call they are cast to
    v's dtype. The kernels get [B, heads, L, d] views (no copies); see attention.py for the kernels.
    """
    q, k = q.to(v.dtype), k.to(v.dtype)
    out = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), kernel)
    return out.transpose(1, 2).flatten(2)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.kernel = "sdpa"  # a name from attention.KERNELS, set by ScailDiT.set_attention
        self.q = Linear(dim, dim)
        self.k = Linear(dim, dim)
        self.v = Linear(dim, dim)
        self.o = Linear(dim, dim)
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)
        # The attention call, an attribute so that a wrapper (parallel/ulysses.py) can replace it.
        self.attend: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = self._attend

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        shape = (*x.shape[:2], self.num_heads, -1)
        x = x.to(self.q.input_dtype)  # the float32 modulated input, cast once for q, k and v
        q = apply_rope(self.norm_q(self.q(x)).view(shape), rope)
        k = apply_rope(self.norm_k(self.k(x)).view(shape), rope)
        v = self.v(x).view(shape)
        return self.o(self.attend(q, k, v))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return heads_attention(q, k, v, self.kernel)


class CrossAttention(nn.Module):
    """Attention to the text tokens plus, with its own keys and values, to the CLIP image tokens."""

    def __init__(self, dim: int, num_heads: int, eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.kernel = "sdpa"  # always an exact one (attention.exact_kernel)
        self.q = Linear(dim, dim)
        self.k = Linear(dim, dim)
        self.v = Linear(dim, dim)
        self.o = Linear(dim, dim)
        self.k_img = Linear(dim, dim)
        self.v_img = Linear(dim, dim)
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)
        self.norm_k_img = RMSNorm(dim, eps)

    def forward(self, x: torch.Tensor, text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.norm_q(self.q(x)))
        from_text = heads_attention(q, self._heads(self.norm_k(self.k(text))), self._heads(self.v(text)),
                                    self.kernel)
        from_image = heads_attention(q, self._heads(self.norm_k_img(self.k_img(image))),
                                     self._heads(self.v_img(image)), self.kernel)
        return self.o(from_text + from_image)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.view(t.shape[0], t.shape[1], self.num_heads, -1)


class WanBlock(nn.Module):
    """Self-attention, cross-attention and a tanh-GELU MLP, modulated by the timestep (adaLN)."""

    def __init__(self, dim: int, ffn_dim: int, num_heads: int, eps: float) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim, eps, elementwise_affine=False)
        self.self_attn = SelfAttention(dim, num_heads, eps)
        self.norm3 = LayerNorm(dim, eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(dim, num_heads, eps)
        self.norm2 = LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.zeros(1, 6, dim))

    def forward(self, x: torch.Tensor, time6: torch.Tensor, text: torch.Tensor, image: torch.Tensor,
                rope: torch.Tensor) -> torch.Tensor:
        """x [B, L, dim]; time6 [B, 6, dim] float32 from the time projection."""
        mod = self.modulation.float() + time6
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = mod.chunk(6, dim=1)

        y = self.self_attn(self.norm1(x).float() * (1 + scale_a) + shift_a, rope)
        x = x + y * gate_a
        x = x + self.cross_attn(self.norm3(x), text, image)
        y = self.ffn(self.norm2(x).float() * (1 + scale_f) + shift_f)
        return x + y * gate_f


class Head(nn.Module):
    """Final norm, timestep modulation and projection to patch pixels, all in float32."""

    def __init__(self, dim: int, out_features: int, eps: float) -> None:
        super().__init__()
        self.norm = LayerNorm(dim, eps, elementwise_affine=False)
        self.head = FloatLinear(dim, out_features)
        self.modulation = nn.Parameter(torch.zeros(1, 2, dim))

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        """x [B, L, dim]; time [B, dim] float32 (the time embedding before projection)."""
        shift, scale = (self.modulation.float() + time.unsqueeze(1)).chunk(2, dim=1)
        return self.head(self.norm(x).float() * (1 + scale) + shift)
