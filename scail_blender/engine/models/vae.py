"""The Wan2.1 video VAE: 16 latent channels, 4x temporal and 8x8 spatial compression, causal in time.

Written here rather than taken from diffusers so that the official ``Wan2.1_VAE.pth`` loads by its
own parameter names (no key conversion to get wrong) and so that the streaming is explicit: the
video is encoded as frame 0 and then chunks of 4 frames, decoded one latent frame at a time, and
every causal convolution carries the last frames of its input from chunk to chunk in a ``Stream``.
That keeps memory flat in the clip length and gives the same numbers as encoding in one piece.

Latents are normalised per channel with the released mean and std, as SCAIL's code path does
(its extra ``scale_factor`` is 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# Per-channel statistics of the released VAE's latents (facts from Wan2.1 / SCAIL).
LATENT_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
               0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
LATENT_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
              3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)


@dataclass(frozen=True)
class VaeConfig:
    """Defaults are the released model; tests use ``dim=8``."""

    dim: int = 96
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple[bool, ...] = (False, True, True)


@dataclass
class Stream:
    """What each causal layer remembers of the previous chunk (tails of its input)."""

    tails: dict[nn.Module, torch.Tensor] = field(default_factory=dict)
    started: set[nn.Module] = field(default_factory=set)


class CausalConv3d(nn.Conv3d):
    """Conv3d padded only towards the past in time; streams through ``Stream`` tails."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int, int],
                 stride: int | tuple[int, int, int] = 1, padding: int | tuple[int, int, int] = 0) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0)
        pt, ph, pw = (padding,) * 3 if isinstance(padding, int) else padding
        self.past = 2 * pt
        self.spatial_pad = (pw, pw, ph, ph)

    def forward(self, x: torch.Tensor, stream: Stream | None = None) -> torch.Tensor:
        if self.past:
            head = stream.tails.get(self) if stream is not None else None
            if head is None:
                head = x.new_zeros(*x.shape[:2], self.past, *x.shape[3:])
            x = torch.cat([head, x], dim=2)
            if stream is not None:
                stream.tails[self] = x[:, :, -self.past:]
        if any(self.spatial_pad):
            x = F.pad(x, (*self.spatial_pad, 0, 0))
        return super().forward(x)


class RMSNorm(nn.Module):
    """Channel RMS norm (L2-normalise over channels, times sqrt(C) and a learned gain)."""

    def __init__(self, dim: int, frames_axis: bool = True) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, *((1, 1, 1) if frames_axis else (1, 1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.scale * self.gamma


def per_frame(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply a 2D module to every frame of [B, C, T, H, W]."""
    b, _, t = x.shape[:3]
    y = fn(x.transpose(1, 2).flatten(0, 1))
    return y.unflatten(0, (b, t)).transpose(1, 2)


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        # Indices are part of the checkpoint's parameter names (residual.0/.2/.3/.6).
        self.residual = nn.Sequential(
            RMSNorm(cin), nn.SiLU(), CausalConv3d(cin, cout, 3, padding=1),
            RMSNorm(cout), nn.SiLU(), nn.Dropout(0.0), CausalConv3d(cout, cout, 3, padding=1))
        self.shortcut = CausalConv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, stream: Stream) -> torch.Tensor:
        h = self.shortcut(x)
        for layer in self.residual:
            x = layer(x, stream) if isinstance(layer, CausalConv3d) else layer(x)
        return x + h


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame (no attention across time)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, frames_axis=False)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def _frame(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.to_qkv(self.norm(x)).flatten(2).transpose(1, 2).unsqueeze(1).chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(q, k, v).squeeze(1).transpose(1, 2).reshape(n, c, h, w)
        return self.proj(y)

    def forward(self, x: torch.Tensor, stream: Stream) -> torch.Tensor:
        return x + per_frame(self._frame, x)


class NearestUpsample(nn.Upsample):
    """Nearest-exact 2x upsampling computed in float32 (bfloat16 nearest is not supported everywhere)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type_as(x)


class Downsample(nn.Module):
    """Halve H and W; with ``temporal`` also halve time, keeping frame 0 as its own latent frame."""

    def __init__(self, dim: int, temporal: bool) -> None:
        super().__init__()
        self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1)) if temporal else None

    def forward(self, x: torch.Tensor, stream: Stream) -> torch.Tensor:
        x = per_frame(self.resample, x)
        if self.time_conv is None:
            return x
        tail = stream.tails.get(self)
        stream.tails[self] = x[:, :, -1:]
        if tail is None:
            return x  # the first chunk is frame 0 alone: it passes through
        return self.time_conv(torch.cat([tail, x], dim=2))


class Upsample(nn.Module):
    """Double H and W (halving channels); with ``temporal`` also double time after frame 0."""

    def __init__(self, dim: int, temporal: bool) -> None:
        super().__init__()
        self.resample = nn.Sequential(NearestUpsample(scale_factor=(2.0, 2.0), mode="nearest-exact"),
                                      nn.Conv2d(dim, dim // 2, 3, padding=1))
        self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0)) if temporal else None

    def forward(self, x: torch.Tensor, stream: Stream) -> torch.Tensor:
        if self.time_conv is not None:
            if self in stream.started:
                b, c, t, h, w = x.shape
                # Two output frames per input frame, packed as two halves of the channels.
                x = self.time_conv(x, stream).view(b, 2, c, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w)
            else:
                stream.started.add(self)  # latent frame 0 decodes to a single frame
        return per_frame(self.resample, x)


def _head(dim: int, cout: int) -> nn.Sequential:
    return nn.Sequential(RMSNorm(dim), nn.SiLU(), CausalConv3d(dim, cout, 3, padding=1))


def _run(layers: nn.Sequential, x: torch.Tensor, stream: Stream) -> torch.Tensor:
    for layer in layers:
        if isinstance(layer, (ResidualBlock, AttentionBlock, Downsample, Upsample, CausalConv3d)):
            x = layer(x, stream)
        else:
            x = layer(x)
    return x


class Encoder(nn.Module):
    def __init__(self, cfg: VaeConfig) -> None:
        super().__init__()
        dims = [cfg.dim * m for m in (1, *cfg.dim_mult)]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        blocks: list[nn.Module] = []
        for level, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if level < len(cfg.dim_mult) - 1:
                blocks.append(Downsample(cout, cfg.temporal_downsample[level]))
        self.downsamples = nn.Sequential(*blocks)
        self.middle = nn.Sequential(ResidualBlock(dims[-1], dims[-1]), AttentionBlock(dims[-1]),
                                    ResidualBlock(dims[-1], dims[-1]))
        self.head = _head(dims[-1], cfg.z_dim * 2)

    def forward(self, x: torch.Tensor, stream: Stream) -> torch.Tensor:
        x = self.conv1(x, stream)
        for part in (self.downsamples, self.middle, self.head):
            x = _run(part, x, stream)
        return x


class Decoder(nn.Module):
    def __init__(self, cfg: VaeConfig) -> None:
        super().__init__()
        mult = cfg.dim_mult
        dims = [cfg.dim * m for m in (mult[-1], *reversed(mult))]
        temporal_upsample = tuple(reversed(cfg.temporal_downsample))
        self.conv1 = CausalConv3d(cfg.z_dim, dims[0], 3, padding=1)
        self.middle = nn.Sequential(ResidualBlock(dims[0], dims[0]), AttentionBlock(dims[0]),
                                    ResidualBlock(dims[0], dims[0]))
        blocks: list[nn.Module] = []
        for level, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if level > 0:
                cin //= 2  # every upsampling conv halves the channels
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if level < len(mult) - 1:
                blocks.append(Upsample(cout, temporal_upsample[level]))
        self.upsamples = nn.Sequential(*blocks)
        self.head = _head(dims[-1], 3)

    def forward(self, z: torch.Tensor, stream: Stream) -> torch.Tensor:
        x = self.conv1(z, stream)
        for part in (self.middle, self.upsamples, self.head):
            x = _run(part, x, stream)
        return x


class WanVAE(nn.Module):
    """Encode [B, 3, 1+4k, H, W] in [-1, 1] to normalised latents [B, 16, 1+k, H/8, W/8] and back."""

    def __init__(self, cfg: VaeConfig = VaeConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.conv1 = CausalConv3d(cfg.z_dim * 2, cfg.z_dim * 2, 1)
        self.conv2 = CausalConv3d(cfg.z_dim, cfg.z_dim, 1)
        self.decoder = Decoder(cfg)
        self.register_buffer("latent_mean", torch.tensor(LATENT_MEAN).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("latent_std", torch.tensor(LATENT_STD).view(1, -1, 1, 1, 1), persistent=False)

    @property
    def temporal_stride(self) -> int:
        return 2 ** sum(self.cfg.temporal_downsample)

    @property
    def spatial_stride(self) -> int:
        return 2 ** (len(self.cfg.dim_mult) - 1)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """The mean of the posterior (no sampling), normalised per channel."""
        step = self.temporal_stride
        frames = video.shape[2]
        if (frames - 1) % step:
            raise ValueError(f"the VAE encodes 1 + {step}k frames, got {frames}")
        dtype = next(self.parameters()).dtype
        video = video.to(dtype)
        stream = Stream()
        bounds = [0, 1, *range(1 + step, frames + 1, step)]
        chunks = [self.encoder(video[:, :, a:b], stream) for a, b in zip(bounds[:-1], bounds[1:])]
        mu = self.conv1(torch.cat(chunks, dim=2)).chunk(2, dim=1)[0]
        return ((mu.float() - self.latent_mean) / self.latent_std)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Video in [-1, 1], 1 + 4(T-1) frames for T latent frames."""
        dtype = next(self.parameters()).dtype
        z = (latents.float() * self.latent_std + self.latent_mean).to(dtype)
        z = self.conv2(z)
        stream = Stream()
        frames = [self.decoder(z[:, :, i:i + 1], stream) for i in range(z.shape[2])]
        return torch.cat(frames, dim=2).float().clamp_(-1, 1)

    @torch.no_grad()
    def decode_tiled(self, latents: torch.Tensor, tile: int = 32, overlap: int = 8) -> torch.Tensor:
        """``decode`` in overlapping spatial tiles of ``tile`` latent pixels, blended linearly.

        Peak memory is that of one tile (the decoder's full-resolution activations dominate it),
        at the price of seams that are blended rather than exact: the decoder's middle attention
        and its wide receptive field see only the tile. A latent that fits one tile decodes whole.
        """
        h, w = latents.shape[-2:]
        if h <= tile and w <= tile:
            return self.decode(latents)
        if not 0 <= overlap < tile:
            raise ValueError(f"overlap {overlap} must be below the tile size {tile}")
        s = self.spatial_stride
        out = weight = None
        for y0 in _tile_starts(h, tile, overlap):
            for x0 in _tile_starts(w, tile, overlap):
                part = self.decode(latents[..., y0:y0 + tile, x0:x0 + tile])
                ramp = (_ramp(part.shape[-2], y0 > 0, y0 + tile < h, overlap * s)[:, None]
                        * _ramp(part.shape[-1], x0 > 0, x0 + tile < w, overlap * s)[None, :]).to(part.device)
                if out is None:
                    out = part.new_zeros(*part.shape[:3], h * s, w * s)
                    weight = part.new_zeros(h * s, w * s)
                rows, cols = slice(y0 * s, y0 * s + part.shape[-2]), slice(x0 * s, x0 * s + part.shape[-1])
                out[..., rows, cols] += part * ramp
                weight[rows, cols] += ramp
        return out / weight


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering 0..size with at least ``overlap`` shared; the last one ends at size."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile + 1, tile - overlap))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _ramp(length: int, fade_in: bool, fade_out: bool, width: int) -> torch.Tensor:
    """Blend weights along one tile axis: linear ramps over ``width`` pixels at inner edges, never 0."""
    weights = torch.ones(length)
    ramp = (torch.arange(width) + 0.5) / width
    if fade_in and width:
        weights[:width] = torch.minimum(weights[:width], ramp)
    if fade_out and width:
        weights[-width:] = torch.minimum(weights[-width:], ramp.flip(0))
    return weights
