"""Random DiT weights and writers of the official checkpoint layouts, for tests and benchmarks.

Nothing the product runs on real weights lives here: these make the files a release would hold
(SAT for SCAIL-Preview, FSDP for SCAIL-2, wan-branch safetensors) from seeded random tensors, so
tests and ``scail make-test-checkpoint`` exercise exactly the loading code a download meets.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .checkpoints.convert import write_safetensors
from .checkpoints.formats import FSDP_PATH, SAT_PATH
from .checkpoints.names import wan_to_sat
from .models.dit import DitConfig, ScailDiT


def save_safetensors(state: dict[str, torch.Tensor], path: str | Path,
                     config: DitConfig | None = None) -> Path:
    """A wan-branch safetensors file, as the official convert.py (or `scail convert`) writes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtypes = {t.dtype for t in state.values()}
    write_safetensors(path, {k: tuple(v.shape) for k, v in state.items()}, state.__getitem__,
                      dtypes.pop() if len(dtypes) == 1 else torch.float32, config)
    return path


def save_sat(state: dict[str, torch.Tensor], root: str | Path) -> Path:
    """SCAIL-Preview's layout: root/model/1/mp_rank_00_model_states.pt with DeepSpeed bookkeeping."""
    path = Path(root) / SAT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    sat = wan_to_sat(state)
    torch.save({"module": sat, "buffer_names": [], "optimizer": None, "lr_scheduler": None,
                "param_shapes": [{name: t.shape for name, t in sat.items()}],
                "sparse_tensor_module_names": set(), "skipped_steps": 0, "global_steps": 1,
                "global_samples": 1, "dp_world_size": 1, "mp_world_size": 1,
                "ds_config": {"bf16": {"enabled": True}}, "ds_version": "0.14.0"}, path)
    return path


def save_fsdp(state: dict[str, torch.Tensor], root: str | Path) -> Path:
    """SCAIL-2's layout: root/model/1/fsdp2_rank_0000_checkpoint.pt, float32, NumPy RNG state beside."""
    path = Path(root) / FSDP_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    sat = {name: t.float() for name, t in wan_to_sat(state).items()}
    rng = np.random.RandomState(0).get_state()
    torch.save({"module": sat, "iteration": 1, "np_rng_state": rng}, path)
    return path


def init_random_(model: ScailDiT, seed: int = 0) -> ScailDiT:
    """Fill every parameter in place with seeded values of a sane scale, on its own device/dtype.

    Each tensor's values depend only on (seed, name, shape), so SCAIL and SCAIL-2 models of one
    seed share their common weights, and a model built on the GPU never exists twice.
    """
    for name, param in model.named_parameters():
        generator = torch.Generator(device=param.device)
        generator.manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        values = torch.randn(param.shape, generator=generator, device=param.device)
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "modulation":
            values /= math.sqrt(param.shape[-1])
        elif "norm" in name and leaf == "weight":
            values = 1 + 0.1 * values
        elif leaf == "bias" or param.ndim == 1:
            values *= 0.02
        else:
            values /= math.sqrt(param[0].numel())
        with torch.no_grad():
            param.copy_(values)
    return model


def random_state_dict(config: DitConfig | str = "tiny", variant: str | None = None, seed: int = 0,
                      dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random weights in wan-branch names for a config (or preset name), for tests and test checkpoints."""
    if isinstance(config, str):
        config = DitConfig.preset(config, variant or "scail")
    elif variant is not None:
        config = replace(config, variant=variant)
    model = init_random_(ScailDiT(config), seed)
    return {name: t.detach().to(dtype) for name, t in model.state_dict().items()}
