"""MultiAnimate's three conv encoders, outside the DiT, and the label map they read.

- ``dwpose_embedding`` (UniAnimate's pose guider): the rendered skeleton frames of every character
  on one canvas, 0..255 RGB, to one token per DiT patch;
- ``label_embedding`` (the paper's Identifier Adapter): the one-hot label map (background in
  channel 0, character i in channel i) to tokens of the same grid; its input width, 4 or 8, is
  the checkpoint's character limit plus one (3 or 7 characters);
- ``randomref_embedding_pose``: the reference image's skeleton render to 20 channels at the
  latent's size, added to all 20 channels of the I2V conditioning at every latent frame.

Both 3D encoders see the first frame four times (three copies prepended): the video VAE's first
latent frame stands for one pixel frame, every later one for four, and this makes 81 frames a
whole number of 4-frame steps. The label and pose tokens are cast to the DiT's dtype and summed
there, as the official pipeline does (with a bf16 DiT: label encoder in bf16, pose encoders in
float32). Names and layer indices are the official ones, so the checkpoint's tensors load strictly.
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import InputError

HIDDEN = 16
REF_POSE_DIM = 20
MASK_THRESHOLD = 127.5
# Stride of each 3x3x3 conv after the first; a last (1, 2, 2) conv makes the tokens.
STRIDES_3D = ((1, 1, 1), (1, 1, 1), (1, 2, 2), (2, 2, 2), (2, 2, 2))
STRIDES_2D = (1, 1, 2, 2, 2)


def conv_stack_3d(in_channels: int, dim: int) -> nn.Sequential:
    """Conv3d(in->16) SiLU, five more 16->16 convs with SiLU (strides above), Conv3d(16->dim, k=s=(1,2,2)).

    Overall 4x temporally and 16x spatially: 84 padded frames at 480x832 give the DiT's 21x30x52 grid.
    """
    layers: list[nn.Module] = [nn.Conv3d(in_channels, HIDDEN, 3, padding=1), nn.SiLU()]
    for stride in STRIDES_3D:
        layers += [nn.Conv3d(HIDDEN, HIDDEN, 3, stride=stride, padding=1), nn.SiLU()]
    layers.append(nn.Conv3d(HIDDEN, dim, (1, 2, 2), stride=(1, 2, 2)))
    return nn.Sequential(*layers)


def conv_stack_2d() -> nn.Sequential:
    """Conv2d(3->16), four 16->16, Conv2d(16->20), SiLU between (none after the last); 8x down."""
    channels = (3, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, REF_POSE_DIM)
    layers: list[nn.Module] = []
    for index, stride in enumerate((1, *STRIDES_2D)):
        if index:
            layers.append(nn.SiLU())
        layers.append(nn.Conv2d(channels[index], channels[index + 1], 3, stride=stride, padding=1))
    return nn.Sequential(*layers)


def pad_first_frame(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, C, T + 3, H, W] with the first frame repeated in front."""
    return torch.cat([x[:, :, :1].expand(-1, -1, 3, -1, -1), x], dim=2)


def label_map(masks: torch.Tensor, channels: int) -> torch.Tensor:
    """One-hot labels [1, channels, T, H, W] float from per-character masks [N, C, T, H, W] (0..255).

    A pixel belongs to character i (1-based, in the masks' order) when any of its channels is
    above 127.5; where characters overlap, the later one wins; the rest is background (0).
    """
    if masks.ndim != 5:
        raise InputError(f"masks must be [characters, channels, frames, H, W], got {list(masks.shape)}")
    if masks.shape[0] > channels - 1:
        raise InputError(f"{masks.shape[0]} characters, but this MultiAnimate checkpoint takes at most "
                         f"{channels - 1}; use the extended checkpoint (7 characters) or fewer characters")
    labels = torch.zeros(masks.shape[2:], dtype=torch.long, device=masks.device)
    for index, mask in enumerate(masks):
        labels[(mask > MASK_THRESHOLD).any(dim=0)] = index + 1
    return nn.functional.one_hot(labels, channels).permute(3, 0, 1, 2)[None].float()


class MultiAnimateEncoders(nn.Module):
    """The three encoders; ``persons`` is the checkpoint's character limit (3 or 7)."""

    def __init__(self, persons: int, dim: int) -> None:
        super().__init__()
        self.persons = persons
        self.dwpose_embedding = conv_stack_3d(3, dim)
        self.label_embedding = conv_stack_3d(persons + 1, dim)
        self.randomref_embedding_pose = conv_stack_2d()

    def condition(self, labels: torch.Tensor, pose: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Pose + identity tokens [1, f*h*w, dim] in ``dtype`` (the DiT's).

        labels [1, persons + 1, T, H, W] one-hot (label_map); pose [1, 3, T, H, W] in 0..255.
        Each encoder runs in its own weights' dtype.
        """
        label_dtype = self.label_embedding[0].weight.dtype
        pose_dtype = self.dwpose_embedding[0].weight.dtype
        identity = self.label_embedding(pad_first_frame(labels.to(label_dtype))).to(dtype)
        poses = self.dwpose_embedding(pad_first_frame(pose.to(pose_dtype)) / 255.0).to(dtype)
        return (identity + poses).flatten(2).transpose(1, 2)

    def reference_pose(self, ref_pose: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Features [1, 20, 1, H/8, W/8] in ``dtype`` of the reference's skeleton render [1, 3, H, W] (0..255)."""
        weight_dtype = self.randomref_embedding_pose[0].weight.dtype
        return self.randomref_embedding_pose(ref_pose.to(weight_dtype) / 255.0).unsqueeze(2).to(dtype)


def i2v_mask(frames: int, height: int, width: int) -> torch.Tensor:
    """Wan I2V's 4 mask channels [4, latent frames, H/8, W/8]: ones at the first latent frame (the
    given image), zeros for the frames to generate."""
    latent_frames = (frames - 1) // 4 + 1
    mask = torch.zeros(4, latent_frames, height // 8, width // 8)
    mask[:, 0] = 1
    return mask
