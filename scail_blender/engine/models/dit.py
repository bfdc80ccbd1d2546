"""The SCAIL video diffusion transformer (SCAIL-Preview and SCAIL-2).

SCAIL is Wan2.1-I2V-14B with a different input stem. The stem turns the reference latent, the
noisy video latent and the half-resolution pose latent into one token sequence

    [extra references (SCAIL-2) | reference | video | pose]

that a stack of unchanged Wan blocks (wan_block.py) attends over in full, positions told apart only
by 3D RoPE (rope.py). The head turns just the video tokens back into a velocity latent.

Every latent input carries its 4 mask channels already (20 = 16 latent + 4 mask): zeros for the
frames to generate (or SCAIL-2's history mask), ones for the reference, extra references and pose
(see ``add_mask_channels``). SCAIL-2 adds a 28-channel mask embedding: the reference mask is added
to the [reference | video] tokens, the driving mask to the pose tokens, and each extra reference
has its own mask.

Parameter names are those of the official wan-branch model, so its safetensors load as they are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import InputError
from ...jobs.contract import VARIANTS
from .attention import check_kernel, exact_kernel
from .rope import scail_factors
from .wan_block import FloatLinear, Head, LayerNorm, Linear, WanBlock



@dataclass(frozen=True)
class DitConfig:
    """Sizes of one SCAIL DiT. ``variant`` "scail2" adds the 28-channel mask embedding."""

    variant: str = "scail"
    dim: int = 5120
    ffn_dim: int = 13824
    num_heads: int = 40
    num_layers: int = 40
    in_dim: int = 20
    out_dim: int = 16
    mask_dim: int = 28
    freq_dim: int = 256
    text_dim: int = 4096
    text_len: int = 512
    clip_dim: int = 1280
    patch_size: tuple[int, int, int] = (1, 2, 2)
    eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.dim % self.num_heads or (self.dim // self.num_heads) % 2:
            raise ValueError(f"dim {self.dim} does not split into {self.num_heads} heads of even size")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @classmethod
    def preset(cls, name: str, variant: str = "scail") -> DitConfig:
        """"14B" (the released models), "1.3B" (no released weights), "tiny" (tests, CPU)."""
        try:
            sizes = PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown DiT preset {name!r}; choose one of {sorted(PRESETS)}") from None
        return dataclasses.replace(cls(variant=variant), **sizes)


PRESETS: dict[str, dict] = {
    "14B": dict(dim=5120, ffn_dim=13824, num_heads=40, num_layers=40),
    "1.3B": dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30),
    # Heads of 128 like the real model, so the 44/42/42 RoPE split is the one under test.
    "tiny": dict(dim=256, ffn_dim=512, num_heads=2, num_layers=2, text_dim=64, clip_dim=64),
}


@dataclass(frozen=True)
class TokenLayout:
    """Where each part sits in the token sequence [extra refs | ref | video | pose].

    ``frames, rows, cols`` is the video token grid; the pose grid is half as high and wide.
    """

    extra_frames: int
    frames: int
    rows: int
    cols: int

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.frames, self.rows, self.cols

    @property
    def extra_tokens(self) -> int:
        return self.extra_frames * self.rows * self.cols

    @property
    def ref_tokens(self) -> int:
        return self.rows * self.cols

    @property
    def video_tokens(self) -> int:
        return self.frames * self.rows * self.cols

    @property
    def pose_tokens(self) -> int:
        return self.frames * (self.rows // 2) * (self.cols // 2)

    @property
    def video_slice(self) -> slice:
        start = self.extra_tokens + self.ref_tokens
        return slice(start, start + self.video_tokens)

    @property
    def total(self) -> int:
        return self.extra_tokens + self.ref_tokens + self.video_tokens + self.pose_tokens


def add_mask_channels(latent: torch.Tensor, value: float) -> torch.Tensor:
    """Append the 4 mask channels to a [B, 16, T, h, w] latent: 1 for conditions, 0 to generate."""
    b, _, t, h, w = latent.shape
    return torch.cat([latent, latent.new_full((b, 4, t, h, w), value)], dim=1)


def sinusoidal_embedding(dim: int, t: torch.Tensor) -> torch.Tensor:
    """[cos | sin] timestep embedding computed in float64, returned as float32 [B, dim]."""
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=t.device) / half)
    angles = torch.outer(t.to(torch.float64), freqs)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1).float()


@dataclass
class BlockResidual:
    """What the blocks added to the tokens the last time they ran, for step caching.

    With ``reuse`` set, a forward skips the blocks and adds ``value`` instead; otherwise it runs
    them and stores what they added. One per batch that the caller runs (step_cache.py decides).
    """

    reuse: bool = False
    value: torch.Tensor | None = None


# Token layouts whose RoPE factors a model keeps (a job uses one or two: full and last window).
ROPE_CACHE_SIZE = 8


class PatchEmbed(nn.Conv3d):
    """Non-overlapping 3D patches to tokens, in the weight dtype."""

    def __init__(self, in_channels: int, dim: int, patch_size: tuple[int, int, int]) -> None:
        super().__init__(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.to(self.weight.dtype))


class ClipProjection(nn.Module):
    """CLIP ViT-H image tokens (1280 wide) to context tokens; LayerNorms use torch's eps 1e-5."""

    def __init__(self, clip_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(LayerNorm(clip_dim), Linear(clip_dim, clip_dim), nn.GELU(),
                                  Linear(clip_dim, dim), LayerNorm(dim))

    def forward(self, clip_fea: torch.Tensor) -> torch.Tensor:
        return self.proj(clip_fea.float())


class WanParts:
    """What every Wan2.1-I2V-based DiT here shares (SCAIL, SCAIL-2, Wan I2V for MultiAnimate): the
    conditioning embeddings, blocks and head, attention kernels, compiling, unpatchify. Written
    once so the speed modes (speed.py) and the parity-tested numerics apply to all of them alike;
    ``config`` needs dim, ffn_dim, num_heads, num_layers, text/clip/freq dims, text_len,
    patch_size, out_dim and eps."""

    def build_wan_parts(self, c) -> None:
        """Create the conditioning embeddings, the blocks and the head from config ``c``."""
        # Wan2.1-I2V conditioning: text, CLIP image, timestep.
        self.text_embedding = nn.Sequential(Linear(c.text_dim, c.dim), nn.GELU(approximate="tanh"),
                                            Linear(c.dim, c.dim))
        self.img_emb = ClipProjection(c.clip_dim, c.dim)
        self.time_embedding = nn.Sequential(FloatLinear(c.freq_dim, c.dim), nn.SiLU(),
                                            FloatLinear(c.dim, c.dim))
        self.time_projection = nn.Sequential(nn.SiLU(), FloatLinear(c.dim, 6 * c.dim))
        self.blocks = nn.ModuleList(WanBlock(c.dim, c.ffn_dim, c.num_heads, c.eps)
                                    for _ in range(c.num_layers))
        self.head = Head(c.dim, math.prod(c.patch_size) * c.out_dim, c.eps)
        # Set by offload.BlockOffload: yields each block with its weights on the compute device.
        self.offload: Iterable[WanBlock] | None = None
        self._rope_cache: dict[tuple, torch.Tensor] = {}

    def set_attention(self, kernel: str) -> None:
        """Pick the self-attention kernel by name (attention.py); cross-attention stays exact."""
        check_kernel(kernel)
        for block in self.blocks:
            block.self_attn.kernel = kernel
            block.cross_attn.kernel = exact_kernel(kernel)

    def compile_blocks(self, **options) -> None:
        """torch.compile each block (one graph for all: fused norms, modulation, RoPE, gates).

        Blocks share their code, so the compiled graph is reused across them with the weights
        as inputs; ``options`` go to torch.compile (e.g. mode="max-autotune-no-cudagraphs").
        """
        for block in self.blocks:
            block.compile(dynamic=False, **options)

    def time_modulation(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Time embedding [B, dim] and the blocks' modulation input [B, 6, dim], float32."""
        time = self.time_embedding(sinusoidal_embedding(self.config.freq_dim, t))
        return time, self.time_projection(time).unflatten(1, (6, self.config.dim))

    def embed_context(self, context: torch.Tensor, clip_fea: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Text tokens (zero-padded to text_len: the model never saw a shorter context) and image tokens."""
        padding = context.new_zeros(context.shape[0], self.config.text_len - context.shape[1],
                                     context.shape[2])
        return self.text_embedding(torch.cat([context, padding], dim=1)), self.img_emb(clip_fea)

    def unpatchify(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """[B, frames * rows * cols, patch values] tokens back to a [B, out_dim, T, h, w] latent."""
        pt, ph, pw = self.config.patch_size
        frames, rows, cols = grid
        x = x.view(x.shape[0], frames, rows, cols, pt, ph, pw, self.config.out_dim)
        x = torch.einsum("bfhwpqrc->bcfphqwr", x)
        return x.reshape(x.shape[0], self.config.out_dim, frames * pt, rows * ph, cols * pw)


class ScailDiT(WanParts, nn.Module):
    """The network; build it on the meta device and load weights with checkpoints.load_dit."""

    def __init__(self, config: DitConfig) -> None:
        super().__init__()
        c = self.config = config
        # SCAIL stem: shared patch embedding for reference + video, own one for pose (and masks).
        self.patch_embedding = PatchEmbed(c.in_dim, c.dim, c.patch_size)
        self.patch_embedding_pose = PatchEmbed(c.in_dim, c.dim, c.patch_size)
        if c.variant == "scail2":
            self.patch_embedding_mask = PatchEmbed(c.mask_dim, c.dim, c.patch_size)
        self.build_wan_parts(c)

    def rope_factors(self, layout: TokenLayout, replace: bool, device: torch.device) -> torch.Tensor:
        """RoPE factors of a layout as a real [L, head_dim // 2, 2] float32 tensor on ``device``.

        Built once per (layout, mode, device) in float64 on the CPU, then kept: rebuilding them
        costs a CPU computation and a blocking host-to-device copy on every forward.
        """
        key = (layout, replace, device)
        factors = self._rope_cache.get(key)
        if factors is None:
            if len(self._rope_cache) >= ROPE_CACHE_SIZE:
                self._rope_cache.clear()
            complex_factors = scail_factors(self.config.head_dim, *layout.grid, extra_refs=layout.extra_frames,
                                            replace=replace)
            factors = self._rope_cache[key] = torch.view_as_real(complex_factors).to(device)
        return factors

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, clip_fea: torch.Tensor,
                ref: torch.Tensor, pose: torch.Tensor, *, ref_mask: torch.Tensor | None = None,
                pose_mask: torch.Tensor | None = None, extra_refs: torch.Tensor | None = None,
                extra_ref_masks: torch.Tensor | None = None, replace: bool = False,
                residual: BlockResidual | None = None) -> torch.Tensor:
        """Predict the flow velocity of the video latent.

        x [B, 20, T, h, w] noisy latent + mask channels; t [B] timesteps (sigma * 1000);
        context [B, L <= 512, text_dim] umT5 embeddings (zero-padded to 512 here);
        clip_fea [B, 257, 1280] CLIP tokens of the reference; ref [B, 20, 1, h, w];
        pose [B, 20, T, h/2, w/2]. SCAIL-2 only: ref_mask [B, 28, 1+T, h, w], pose_mask
        [B, 28, T, h/2, w/2] (both required), extra_refs [B, 20, N, h, w] with extra_ref_masks
        [B, 28, N, h, w], replace (replacement mode). ``residual``: step caching (BlockResidual).
        Returns float32 [B, 16, T, h, w].
        """
        layout = self.check_inputs(x, t, context, clip_fea, ref, pose, ref_mask, pose_mask,
                                   extra_refs, extra_ref_masks)
        tokens = self.embed_tokens(x, ref, pose, ref_mask, pose_mask, extra_refs, extra_ref_masks)
        time, time6 = self.time_modulation(t)
        if residual is not None and residual.reuse:
            tokens = tokens + residual.value
        else:
            text, image = self.embed_context(context, clip_fea)
            rope = self.rope_factors(layout, replace, tokens.device)
            start = tokens if residual is not None else None  # held only when caching needs it
            for block in self.blocks if self.offload is None else self.offload:
                tokens = block(tokens, time6, text, image, rope)
            if residual is not None:
                residual.value = tokens - start
        out = self.head(tokens[:, layout.video_slice], time)
        return self.unpatchify(out, layout.grid)

    def embed_tokens(self, x: torch.Tensor, ref: torch.Tensor, pose: torch.Tensor,
                     ref_mask: torch.Tensor | None, pose_mask: torch.Tensor | None,
                     extra_refs: torch.Tensor | None, extra_ref_masks: torch.Tensor | None
                     ) -> torch.Tensor:
        """The SCAIL stem: patch-embed everything into [extra refs | ref | video | pose] tokens."""
        main = self.patch_embedding(torch.cat([ref, x], dim=2))
        poses = self.patch_embedding_pose(pose)
        parts = []
        if self.config.variant == "scail2":
            main = main + self.patch_embedding_mask(ref_mask)
            poses = poses + self.patch_embedding_mask(pose_mask)
            if extra_refs is not None:
                parts.append(self.patch_embedding(extra_refs) + self.patch_embedding_mask(extra_ref_masks))
        parts += [main, poses]
        return torch.cat([p.flatten(2).transpose(1, 2) for p in parts], dim=1)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                     clip_fea: torch.Tensor, ref: torch.Tensor, pose: torch.Tensor,
                     ref_mask: torch.Tensor | None, pose_mask: torch.Tensor | None,
                     extra_refs: torch.Tensor | None, extra_ref_masks: torch.Tensor | None
                     ) -> TokenLayout:
        """Check every shape against x's and return the token layout they give."""
        c = self.config
        pt, ph, pw = c.patch_size
        if x.ndim != 5 or x.shape[1] != c.in_dim:
            raise InputError(f"x must be [B, {c.in_dim}, T, h, w] (latent + mask channels), "
                             f"got {list(x.shape)}")
        b, _, frames, h, w = x.shape
        if frames % pt or h % (2 * ph) or w % (2 * pw):
            raise InputError(f"latent size {frames}x{h}x{w} must divide by {pt}x{2 * ph}x{2 * pw} "
                             "(patches, and the half-size pose latent's patches); pick a video size "
                             "that is a multiple of 32 pixels")
        _expect("t", t, (b,))
        _expect("context", context, (b, None, c.text_dim))
        if context.shape[1] > c.text_len:
            raise InputError(f"context has {context.shape[1]} tokens, at most {c.text_len} allowed")
        _expect("clip_fea", clip_fea, (b, None, c.clip_dim))
        _expect("ref", ref, (b, c.in_dim, 1, h, w))
        _expect("pose", pose, (b, c.in_dim, frames, h // 2, w // 2))
        extra_frames = 0
        if c.variant == "scail":
            given = [n for n, v in (("ref_mask", ref_mask), ("pose_mask", pose_mask),
                                    ("extra_refs", extra_refs), ("extra_ref_masks", extra_ref_masks))
                     if v is not None]
            if given:
                raise InputError(f"{', '.join(given)} need a SCAIL-2 checkpoint; this one is "
                                 "SCAIL-Preview (no mask embedding)")
        else:
            if ref_mask is None or pose_mask is None:
                raise InputError("SCAIL-2 needs ref_mask and pose_mask (28-channel colour masks)")
            _expect("ref_mask", ref_mask, (b, c.mask_dim, 1 + frames, h, w))
            _expect("pose_mask", pose_mask, (b, c.mask_dim, frames, h // 2, w // 2))
            if (extra_refs is None) != (extra_ref_masks is None):
                raise InputError("extra_refs and extra_ref_masks go together: give both or neither")
            if extra_refs is not None:
                _expect("extra_refs", extra_refs, (b, c.in_dim, None, h, w))
                _expect("extra_ref_masks", extra_ref_masks, (b, c.mask_dim, extra_refs.shape[2], h, w))
                if extra_refs.shape[2] % pt:
                    raise InputError(f"extra_refs frames must divide by the temporal patch {pt}")
                extra_frames = extra_refs.shape[2] // pt
        return TokenLayout(extra_frames, frames // pt, h // ph, w // pw)


def _expect(name: str, tensor: torch.Tensor, shape: tuple[int | None, ...]) -> None:
    """Raise InputError unless tensor has this shape (None matches any size)."""
    ok = tensor.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, tensor.shape))
    if not ok:
        wanted = ", ".join("*" if s is None else str(s) for s in shape)
        raise InputError(f"{name} must be [{wanted}], got {list(tensor.shape)}")
