"""fp8, nvfp4 and GGUF DiT files keep their size in memory: peak and held RSS measured in a child process.

Each file is loaded (bf16 compute) and run once in a fresh interpreter, which resets its peak
RSS (``/proc/self/clear_refs``) after torch is imported and reports how far RSS rose: at its peak
during the load and the forward, and what is held after the forward (the model, every weight
touched). Memory-mapped file pages count, as they do for a user. The model is a small DiT (dim
768, 8 blocks, 85 M weights, 170 MB in bf16) so the weights dominate the forward's own memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from scail_blender.engine import testing
from scail_blender.engine.models.dit import DitConfig
from tests.engine.test_checkpoints_comfy import save_scaled_fp8
from tests.support.comfy_quant import save_blockquant
from tests.support.gguf_files import GGML, write_gguf

CHILD = r"""
import json, sys, torch
from scail_blender.engine.checkpoints.loading import load_dit
from tests.engine.test_dit_model import make_inputs

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

inputs = {k: v.to(torch.bfloat16) for k, v in make_inputs(sys.argv[2]).items()}
inputs["context"] = torch.randn(1, 5, 64, dtype=torch.bfloat16)
inputs["clip_fea"] = torch.randn(1, 257, 64, dtype=torch.bfloat16)
open("/proc/self/clear_refs", "w").write("5")
base = rss("VmRSS:")
model = load_dit(sys.argv[1], dtype=torch.bfloat16)
with torch.no_grad():
    out = model(**inputs)
finite = bool(torch.isfinite(out).all())
del out
print(json.dumps({"held": rss("VmRSS:") - base, "peak": rss("VmHWM:") - base, "finite": finite}))
"""


def measure(path: Path, variant: str = "scail") -> dict:
    # glibc keeps freed heap blocks in RSS; large blocks from mmap go back at once, so RSS shows
    # what is live (the per-call dequantised weights are freed after each layer).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), variant], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2], timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("memory")
    config = replace(DitConfig.preset("tiny", "scail"), dim=768, ffn_dim=3072, num_heads=6, num_layers=8)
    state = testing.random_state_dict(config, seed=2)
    return {"bf16": testing.save_safetensors({k: v.to(torch.bfloat16) for k, v in state.items()}, root / "bf16.safetensors"),
            "fp8_scaled": save_scaled_fp8(state, root / "fp8_scaled.safetensors"),
            "nvfp4": save_blockquant(state, root / "nvfp4.safetensors", "nvfp4")[0],
            "Q8_0": write_gguf(state, root / "Q8_0.gguf", GGML.Q8_0)[0],
            "Q4_K": write_gguf(state, root / "Q4_K.gguf", GGML.Q4_K)[0]}


def test_quantised_files_keep_their_size_in_memory(files: dict[str, Path]) -> None:
    mib = 2**20
    measured = {name: measure(path) for name, path in files.items()}
    for name, numbers in measured.items():
        print(f"{name}: file {files[name].stat().st_size / mib:.1f} MiB, held {numbers['held'] / mib:.1f} MiB, "
              f"peak {numbers['peak'] / mib:.1f} MiB")
        assert numbers["finite"], name
    bf16 = measured["bf16"]
    layer = 768 * 3072 * 4  # the largest linear in float32, dequantised one at a time
    # Measured (MiB, file / held / peak): bf16 172 / 188 / 189, fp8_scaled 91 / 107 / 122,
    # Q8_0 97 / 127 / 142, Q4_K 56 / 87 / 102, nvfp4 56 / 72 / 87; a clean CI clone held 97 for Q4_K (RSS moves by
    # about 10 MiB between runs with the allocator and which mapped pages were touched). A GGUF
    # holds its unquantised tensors twice (the mapped file's pages and their bf16 copies): 15 MiB
    # more than the fp8 file here. A file widened on load would hold about bf16's 188 MiB, which
    # both bounds below refuse with room to spare (132 MiB over its size for Q4_K).
    for name in ("fp8_scaled", "nvfp4", "Q8_0", "Q4_K"):
        size, held, peak = files[name].stat().st_size, measured[name]["held"], measured[name]["peak"]
        # Held: the file's bytes, plus the unquantised tensors (GGUF: read from the mapped file
        # into bf16 copies) and the forward's own memory (15 MiB for the bf16 file itself).
        assert held - size < 56 * mib, name
        assert held < (0.6 if name in ("Q4_K", "nvfp4") else 0.75) * bf16["held"], name
        # Peak: one layer's dequantisation at a time (its float32 weight and the steps to it):
        # measured 14.6 to 14.8 MiB, 1.6 times the float32 layer.
        assert peak - held < 2.5 * layer, name
