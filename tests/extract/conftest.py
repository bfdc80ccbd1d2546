"""Shared, built-once inputs of the extraction tests: tiny stand-in networks and a real mp4."""

from __future__ import annotations

from pathlib import Path

import pytest

from scail_blender.extract import ExtractOptions, extract_motion
from scail_blender.extract.testing import crossing_scene, write_scene, write_tiny_weights


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="session")
def scene():
    return crossing_scene()


@pytest.fixture(scope="session")
def scene_video(scene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scene(scene, tmp_path_factory.mktemp("video") / "driving.mp4")


@pytest.fixture(scope="session")
def extraction(scene_video: Path, tiny_weights: Path):
    """At the video's own size, so boxes and keypoints compare with the drawn pixels directly."""
    return extract_motion(scene_video, ExtractOptions(weights=tiny_weights, device="cpu", full_frame=True))
