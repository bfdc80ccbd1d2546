"""bench/dit_forward.py runs at the tiny config on CPU and counts the 14B work like the spec."""

from __future__ import annotations

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import dit_forward  # noqa: E402

from scail_blender.engine.models.dit import DitConfig, ScailDiT  # noqa: E402


def test_tiny_forward_on_cpu_reports_time_tokens_and_weights(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = dit_forward.main(["--config", "tiny", "--variant", "scail2", "--device", "cpu",
                               "--dtype", "bfloat16", "--size", "64x64", "--frames", "5",
                               "--repeat", "2", "--json", str(out)])
    assert json.loads(out.read_text()) == result
    # 64x64x5 -> latent 2x8x8 -> tokens: ref 4x4, video 2x4x4, pose 2x2x2.
    assert result["tokens"] == 16 + 32 + 8
    assert result["output_shape"] == [1, 16, 2, 8, 8]
    assert result["seconds_per_forward"] > 0 and result["seconds_min"] <= result["seconds_per_forward"]
    params = sum(p.numel() for p in ScailDiT(DitConfig.preset("tiny", "scail2")).parameters())
    assert result["weights_gb"] == round(params * 2 / 1e9, 2)  # created in bf16, not float32
    assert result["peak_memory_gb"] is None


def test_14b_work_per_forward_matches_the_spec() -> None:
    """Spec: about 6.3 PFLOP per sampling step of two forwards at 48,832 tokens."""
    flops = dit_forward.forward_flops(DitConfig.preset("14B"), 48832, 512 + 257)
    assert abs(2 * flops / 1e15 - 6.3) < 0.1
