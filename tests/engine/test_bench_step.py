"""bench/dit_step.py smoke-runs every mode but the compiled ones at the tiny config on the CPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import dit_step


def test_every_mode_reports_time_error_and_the_encoders(tmp_path: Path) -> None:
    out = tmp_path / "step.json"
    modes = [m for m in dit_step.MODES if "compile" not in m]
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
