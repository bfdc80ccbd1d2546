"""Markers by folder: ``blender`` for the bpy tests, ``gpu`` for CUDA paths (skipped without one).

Markers are set from where a test lives, so ``pytest -m "not blender"`` runs the bpy-free core
alone without anyone having to remember to decorate a new test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BLENDER_FOLDERS = {"blender"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).resolve().relative_to(HERE).parts[0]
        if folder in BLENDER_FOLDERS or "bpy" in item.keywords:
            item.add_marker(pytest.mark.blender)
    gpu = [item for item in items if "gpu" in item.keywords]
    if gpu and not _cuda():
        for item in gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _seeded_randomness() -> None:
    """Every test draws the same numbers on every run, so a bound near the noise cannot flake in CI."""
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny SCAIL-Preview folder for every test that only reads it (written once a session)."""
    from scail_blender.engine.tiny_checkpoint import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("ck") / "SCAIL-Preview")
