"""Our DiT against the official wan-branch code (SCAIL model_scail.py, SCAIL-2 model_scail2.py).

The fixtures hold inputs and the official model's float32 outputs at the tiny config, with the
weights of ``random_state_dict(tiny, variant, seed)``; ``tools/make_parity_fixtures.py`` writes them
(and with ``--check`` recomputes them) from checkouts of the official code, which is not part of this project.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scail_blender.engine.testing import random_state_dict, save_safetensors
from scail_blender.engine.models.dit import DitConfig, ScailDiT
from scail_blender.cli import main

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("dit_parity_*.npz"))
INPUT_KEYS = ("x", "t", "context", "clip_fea", "ref", "pose", "ref_mask", "pose_mask", "extra_refs",
              "extra_ref_masks")


def load_fixture(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    with np.load(path) as data:
        fixture = {key: data[key] for key in data.files}
    state = random_state_dict("tiny", str(fixture["variant"]), seed=int(fixture["seed"]))
    fingerprint = np.array([state[k].double().sum().item() for k in sorted(state)])
    # Guards the fixture itself: if the random weights changed, the comparison would be meaningless.
    np.testing.assert_allclose(fingerprint, fixture["weights_fingerprint"], rtol=0, atol=1e-6)
    return state, fixture


def test_fixtures_cover_both_variants_and_scail2_modes() -> None:
    names = {p.stem for p in FIXTURES}
    assert names == {"dit_parity_scail", "dit_parity_scail2", "dit_parity_scail2_replace"}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_forward_matches_official_fp32(path: Path) -> None:
    state, fixture = load_fixture(path)
    model = ScailDiT(DitConfig.preset("tiny", str(fixture["variant"])))
    model.load_state_dict(state)
    inputs = {k: torch.from_numpy(fixture[k]) for k in INPUT_KEYS if k in fixture}
    with torch.no_grad():
        out = model(**inputs, replace=bool(fixture.get("replace", False)))
    expected = fixture["expected"]
    assert out.shape == expected.shape
    assert np.abs(expected).max() > 1.0  # a real signal, not a collapsed output
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-4)


def test_parity_command_reproduces_official_output(tmp_path: Path) -> None:
    path = next(p for p in FIXTURES if p.stem.endswith("replace"))
    state, fixture = load_fixture(path)
    weights = save_safetensors(state, tmp_path / "w.safetensors")
    np.savez(tmp_path / "in.npz", **{k: fixture[k] for k in INPUT_KEYS + ("replace",)})
    code = main(["parity", "--weights", str(weights), "--inputs", str(tmp_path / "in.npz"),
                 "--out", str(tmp_path / "out.npz")])
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["out"], fixture["expected"], rtol=0,
                               atol=1e-4)


def test_parity_command_rejects_unknown_keys(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    state, fixture = load_fixture(FIXTURES[0])
    weights = save_safetensors(state, tmp_path / "w.safetensors")
    np.savez(tmp_path / "in.npz", **{k: fixture[k] for k in INPUT_KEYS if k in fixture},
             latents=fixture["x"])
    code = main(["parity", "--weights", str(weights), "--inputs", str(tmp_path / "in.npz"),
                 "--out", str(tmp_path / "out.npz")])
    assert code == 2
    assert "unknown ['latents']" in capsys.readouterr().err
    assert not (tmp_path / "out.npz").exists()
