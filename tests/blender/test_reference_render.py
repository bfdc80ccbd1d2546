"""SCAIL-2 references rendered from the scene in the bpy module: the image, its identity mask in the
mode's convention, turntable extra views, the scene left as it was, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scail_blender.pose.identity import BLACK, PALETTE, WHITE
from scail_blender.pose.reference_mask import people_in_mask

from tests.support import run_script

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def read(path: str | Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


def colours(mask: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(c) for c in np.unique(mask.reshape(-1, 3), axis=0).tolist()}


def grow(region: np.ndarray) -> np.ndarray:
    """``region`` and the pixels next to it (an anti-aliased edge pixel is at most one pixel out)."""
    grown = region.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown |= np.roll(region, (dy, dx), axis=(0, 1))
    return grown


def centre_x(mask: np.ndarray, colour: tuple[int, int, int]) -> float:
    return float(np.nonzero((mask == colour).all(-1))[1].mean())


@pytest.mark.oldest_blender
def test_two_characters_keep_their_driving_colours_in_every_view(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "reference_render.py", {"folder": str(tmp_path), "engine": "WORKBENCH",
                                                          "mode": "animation", "people": 2, "views": ["side", "back"],
                                                          "size": [64, 112]})
    assert result["before"] == result["after"], "the scene's render settings, camera and frame are put back"
    assert result["names"] == ["Hero", "Extra"] and result["identities"] == [0, 1] and result["frame"] == 1
    assert result["cameras"] == ["SCAIL Back View", "SCAIL Side View"]
    front, back = read(tmp_path / "ref_mask.png"), read(tmp_path / "ref_back_mask.png")
    image = read(tmp_path / "ref.png")
    assert image.shape == front.shape == (64, 112, 3)
    for path in ("ref_mask.png", "ref_side_mask.png", "ref_back_mask.png"):
        mask = read(tmp_path / path)
        assert colours(mask) == {WHITE, PALETTE[0], PALETTE[1]}, path  # flat: nothing in between
        assert people_in_mask(mask) == {0, 1}, path
    # Hero stands left of Extra in the first pose frame: blue. Seen from the back it is on the right, still blue.
    assert centre_x(front, PALETTE[0]) < centre_x(front, PALETTE[1])
    assert centre_x(back, PALETTE[0]) > centre_x(back, PALETTE[1])
    # The mask is the render's silhouette: the image shows the characters exactly where the mask has them
    # (up to anti-aliased edge pixels, which are under half covered), over the white backdrop elsewhere.
    drawn = (image != WHITE).any(-1)
    masked = (front != WHITE).any(-1)
    assert not (masked & ~drawn).any()
    visible = (image < 250).any(-1)  # a filter's far tail leaves a few pixels at 254 two pixels out
    assert not (visible & ~grow(masked)).any()


@pytest.mark.oldest_blender
def test_eevee_replacement_reference_is_composited_on_black(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "reference_render.py", {"folder": str(tmp_path), "engine": "EEVEE",
                                                          "mode": "replacement", "people": 1, "views": [],
                                                          "size": [64, 64]})
    assert result["before"] == result["after"]
    assert "(eevee)" in result["notes"][0] and "Hero blue" in result["notes"][0]
    mask, image = read(tmp_path / "ref_mask.png"), read(tmp_path / "ref.png")
    assert colours(mask) == {BLACK, PALETTE[0]}
    body = (mask == PALETTE[0]).all(-1)
    assert body.sum() > 50
    assert image[body].mean() > 5, "the character is lit"
    assert (image[~grow(body)] == 0).all(), "outside the silhouette (and its edge) the reference is black"


def test_cycles_renders_only_when_the_chosen_engine_cannot(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "reference_render.py", {"folder": str(tmp_path), "engine": "EEVEE",
                                                          "mode": "animation", "people": 1, "views": [],
                                                          "size": [64, 64], "break_engines": True})
    assert "eevee could not render here (Error: cannot render here (test)); used Cycles at 8 samples" in result["notes"]
    assert result["before"] == result["after"], "engine and Cycles samples are put back"
    mask = read(tmp_path / "ref_mask.png")
    assert colours(mask) == {WHITE, PALETTE[0]} and people_in_mask(mask) == {0}


def test_a_character_without_a_mesh_is_refused_by_name(tmp_path: Path) -> None:
    result = run_script(SCRIPTS / "reference_render.py", {"folder": str(tmp_path), "engine": "WORKBENCH",
                                                          "mode": "animation", "people": 1, "views": [],
                                                          "size": [64, 64], "no_mesh": True})
    assert "'Ghost' has no mesh to render" in result["refused"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.oldest_blender
def test_panel_operators_render_load_previews_and_refuse_a_mismatch(tmp_path: Path) -> None:
    from scail_blender.media import video

    out = run_script(SCRIPTS / "reference_operators.py", {"folder": str(tmp_path)})
    assert out["render_reference"] == out["render_extra_views"] == out["previews"] == ["FINISHED"]
    assert out["reference_image"] == str(tmp_path / "shot_Scene_reference.png")
    assert out["reference_mask"] == str(tmp_path / "shot_Scene_reference_mask.png")
    # The pose video's strip is in the Sequencer: the reference still shows the characters, not the strip.
    assert out["strips"] == 1
    assert [tuple(c) for c in out["reference_colours"]] == [PALETTE[0], PALETTE[1], WHITE]
    assert [view for view, _, _ in out["extra"]] == ["side", "back"]
    # The previews hold exactly the first driving-mask frame and the reference mask.
    first = next(iter(video.read_video(tmp_path / "mask.mp4")))
    assert out["preview_sizes"] == {"SCAIL Driving Mask Preview": [96, 64], "SCAIL Reference Mask Preview": [96, 64]}
    assert out["preview_colours"]["SCAIL Driving Mask Preview"] == np.unique(first.reshape(-1, 3), axis=0).tolist()
    assert out["preview_colours"]["SCAIL Reference Mask Preview"] == out["reference_colours"]
    # Generate sends the mode, the reference mask and both views with their masks.
    assert out["job"] == {"mode": "animation", "reference_mask": out["reference_mask"],
                          "extra": [image for _, image, _ in out["extra"]],
                          "extra_masks": [mask for _, _, mask in out["extra"]]}
    # Mask from Image: the picked image's alpha, in the chosen identity colour (green) on white.
    assert out["mask_from_image"] == ["FINISHED"]
    assert [tuple(c) for c in out["picked_mask"]["colours"]] == [PALETTE[2], WHITE]
    assert out["picked_mask"]["green"] == 32 * 16
    expected = "the reference mask shows 1 person (green) but the driving mask shows 2 people (blue, red)"
    for key in ("mismatch_operator", "mismatch_previews", "mismatch_generate"):
        assert expected in out[key], key
