"""SCAIL-2 reference masks from renders and from images the user picks, and the people a mask shows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scail_blender.engine.preprocess import MASK_COLOURS, colour_mask_latent
from scail_blender.errors import InputError
from scail_blender.pose.identity import BLACK, PALETTE, WHITE
from scail_blender.pose.reference_mask import (
    adopt_mask,
    check_people_match,
    composite_on_black,
    labels_from_alpha,
    mask_from_image,
    mask_from_labels,
    people_in_frames,
    people_in_mask,
)


def model_classes(mask: np.ndarray) -> np.ndarray:
    """Per pixel, the class the model's own classifier gives (index into MASK_COLOURS; -1 = black)."""
    x = torch.from_numpy(mask).permute(2, 0, 1).float()[None].div(127.5).sub(1)
    latent = colour_mask_latent(x, mask.shape[:2])[:7, 0]  # first subframe, full resolution
    on = latent.numpy() > 0.5
    return np.where(on.any(axis=0), on.argmax(axis=0), -1)


def class_of(colour: tuple[int, int, int]) -> int:
    bits = tuple(int(c > 225) for c in colour)
    return MASK_COLOURS.index(bits) if bits in MASK_COLOURS else -1


@pytest.mark.parametrize("mode,bg", [("animation", WHITE), ("replacement", BLACK)])
def test_render_labels_paint_identity_colours_on_the_mode_background(mode: str, bg: tuple) -> None:
    alpha = np.zeros((8, 12), np.float32)
    alpha[2:6, 1:4] = 1.0
    alpha[2:6, 6:10] = 0.8
    alpha[2:6, 10] = 0.3  # an anti-aliased edge below one half: background
    ids = np.full((8, 12), -1)
    ids[2:6, 1:4] = 0
    ids[2:6, 7:10] = 1  # the label render misses the edge column 6 that the alpha covers
    labels = labels_from_alpha(alpha, ids)
    assert (labels[2:6, 6] == 1).all(), "an edge pixel takes the character it touches"
    mask = mask_from_labels(labels, np.array([1, 0]), mode)  # character 0 is identity 1 (red)
    classes = model_classes(mask)
    assert (classes[2:6, 1:4] == class_of(PALETTE[1])).all()
    assert (classes[2:6, 6:10] == class_of(PALETTE[0])).all()
    assert (classes[0] == class_of(bg)).all() and (classes[2:6, 10] == class_of(bg)).all()
    assert {tuple(c) for c in mask.reshape(-1, 3).tolist()} == {bg, PALETTE[0], PALETTE[1]}


def test_one_character_needs_no_labels_and_replacement_composites_on_black() -> None:
    alpha = np.array([[0.0, 0.6], [1.0, 0.2]])
    assert labels_from_alpha(alpha).tolist() == [[-1, 0], [0, -1]]
    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 0]]], np.uint8)
    assert composite_on_black(rgba).tolist() == [[[200, 100, 50], [0, 0, 0]]]
    with pytest.raises(InputError, match="no alpha"):
        composite_on_black(rgba[..., :3])


def test_a_picked_image_gives_its_mask_from_alpha_a_mask_image_or_a_background_colour() -> None:
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., :3] = (0, 200, 0)  # green screen
    rgba[1:5, 2:4] = (180, 120, 90, 255)
    rgba[..., 3] = np.where((rgba[..., :3] == (0, 200, 0)).all(-1), 0, 255)
    body = np.zeros((6, 6), bool)
    body[1:5, 2:4] = True
    by_alpha = mask_from_image(rgba, "alpha", "animation", identity=2)
    by_key = mask_from_image(rgba[..., :3], "colour", "animation", identity=2, key_colour=(0, 200, 0))
    by_mask = mask_from_image(rgba[..., :3], "mask_image", "animation", identity=2,
                              mask_image=np.where(body, 255, 0).astype(np.uint8))
    expected = np.where(body[..., None], np.array(PALETTE[2], np.uint8), np.array(WHITE, np.uint8))
    for mask in (by_alpha, by_key, by_mask):
        assert np.array_equal(mask, expected)
    assert np.array_equal(mask_from_image(rgba, "alpha", "replacement")[0, 0], BLACK)
    with pytest.raises(InputError, match="no alpha channel"):
        mask_from_image(rgba[..., :3], "alpha", "animation")
    with pytest.raises(InputError, match="empty"):
        mask_from_image(rgba[..., :3], "colour", "animation", key_colour=(0, 200, 0), tolerance=255)


def test_an_identity_coloured_mask_image_is_kept_and_a_wrong_size_refused() -> None:
    mask = np.full((8, 8, 3), 255, np.uint8)
    mask[:, :4] = PALETTE[0]
    mask[:, 4:6] = PALETTE[1]
    assert np.array_equal(adopt_mask(mask, (8, 8), "animation", identity=5), mask)
    with pytest.raises(InputError, match="8x8 pixels .* reference is 9x8"):
        adopt_mask(mask, (8, 9), "animation")


def test_people_are_counted_as_the_model_classifies_and_a_mismatch_names_both_counts() -> None:
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[:8, :8] = PALETTE[0]
    frame[8:, 8:] = (250, 10, 240)  # magenta as a lossy file writes it: still magenta
    frame[0, 15] = PALETTE[1]  # one stray pixel is no person
    frame[15, 0] = (200, 0, 0)  # a dark red below the threshold is black to the model
    assert people_in_mask(frame) == {0, 3}
    later = np.zeros_like(frame)
    later[4:12, 4:12] = PALETTE[2]
    assert people_in_frames([frame, later]) == {0, 2, 3}
    check_people_match(frozenset({0, 3}), people_in_mask(frame))
    reference = np.full_like(frame, 255)
    reference[2:10, 2:10] = PALETTE[0]
    with pytest.raises(InputError, match=r"reference mask shows 1 person \(blue\) but the driving mask shows 3 people "
                                         r"\(blue, green, magenta\)"):
        check_people_match(people_in_mask(reference), people_in_frames([frame, later]))
    with pytest.raises(InputError, match=r"shows 2 people \(blue, red\) but the driving mask shows 2 people \(green, magenta"):
        check_people_match(frozenset({0, 1}), frozenset({2, 3}))
