"""bench/dit_step.py smoke-runs every mode but the compiled and FlashAttention-4 ones (a Hopper GPU's) at the
tiny config on the CPU; bench/attention.py runs its kernels and reports the missing one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import attention as attention_bench
import dit_step


def test_every_mode_reports_time_error_and_the_encoders(tmp_path: Path) -> None:
    out = tmp_path / "step.json"
    modes = [m for m in dit_step.MODES if "compile" not in m and "fa4" not in m]
    summary = dit_step.main(["--config", "tiny", "--variant", "scail2", "--device", "cpu", "--dtype", "float32",
                             "--size", "64x64", "--frames", "5", "--warmup", "0", "--repeat", "1", "--cache-steps", "3",
                             "--modes", ",".join(modes), "--json", str(out)])
    assert json.loads(out.read_text()) == summary
    assert list(summary["modes"]) == modes and summary["tokens"] == 16 + 32 + 8
    for name, result in summary["modes"].items():
        assert "error" not in result, (name, result)
        assert result["seconds_per_step"] > 0 and result["peak_memory_gb"] is None
    modes = summary["modes"]
    assert modes["plain"]["relative_error"] == 0.0
    assert modes["auto"]["relative_error"] < 1e-5 and modes["vram-12gb"]["relative_error"] < 1e-5
    assert 0 < modes["sage"]["relative_error"] < 0.05 and 0 < modes["fp8"]["relative_error"] < 0.2
    assert modes["cache"]["steps"] == 3 and modes["cache"]["seconds_skipped_step"] > 0
    assert set(summary["encoders"]) == {"vae_encode", "vae_decode", "vae_decode_tiled", "umt5_two_prompts",
                                     "clip_reference"}


def test_unknown_modes_are_refused() -> None:
    try:
        dit_step.selected_modes("plain,turbo")
    except SystemExit as exc:
        assert "unknown modes turbo" in str(exc)
    else:
        raise AssertionError("turbo accepted")
    assert dit_step.selected_modes("fp8") == ["plain", "fp8"]


def test_attention_bench_measures_error_and_names_missing_kernels(tmp_path: Path) -> None:
    """Exact kernels agree with float64 to fp32 rounding, sage's 8-bit error is reported, and fa4
    without its package or GPU is listed with what to install instead of stopping the run."""
    out = tmp_path / "attention.json"
    report = attention_bench.main(["--device", "cpu", "--dtype", "float32", "--batch", "1", "--heads", "2",
                                   "--tokens", "512", "--head-dim", "64", "--rows", "32", "--repeat", "1",
                                   "--warmup", "0", "--kernels", "sdpa,auto,sage,fa4", "--json", str(out)])
    kernels = json.loads(out.read_text())["kernels"]
    assert kernels == report["kernels"]
    assert kernels["sdpa"]["rel_error"] < 1e-5 and kernels["auto"]["rel_error"] < 1e-5
    assert 1e-4 < kernels["sage"]["rel_error"] < 0.05
    assert "flash-attn-4" in kernels["fa4"]["error"] and kernels["sdpa"]["tflops"] > 0


def test_fp8_error_bench_separates_block_forward_and_guided_error() -> None:
    """At the tiny width: fp8's error exceeds bf16's in every block, planted outliers raise it, and the
    guided velocity (CFG 5) amplifies a forward's error; the numbers themselves are the bench's output."""
    import fp8_error

    report = fp8_error.main(["--config", "tiny", "--blocks", "2", "--size", "64x64", "--frames", "5"])
    random_set, outlier_set = report["sets"]["random"], report["sets"]["outliers"]
    for result in (random_set, outlier_set):
        assert all(f > b for f, b in zip(result["fp8 per-tensor"]["blocks"], result["bf16"]["blocks"]))
        assert result["fp8 per-tensor"]["guided"] > max(result["fp8 per-tensor"]["cond"],
                                                        result["fp8 per-tensor"]["uncond"])
    assert outlier_set["fp8 per-tensor"]["cond"] > 2 * random_set["fp8 per-tensor"]["cond"]
