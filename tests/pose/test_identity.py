"""SCAIL-2 identity palette, order and backgrounds, as verified against the official code."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.errors import InputError
from scail_blender.pose import identity
from scail_blender.pose.identity import IdentityTracker, identity_order, label_boxes, paint_mask, point_boxes

# SCAIL-Pose TrackSam3/track.py DEFAULT_PALETTE_BGR, read as RGB; ComfyUI nodes_scail.py
# DEFAULT_PALETTE (0..1 floats) times 255.
OFFICIAL_RGB = [(0, 0, 255), (255, 0, 0), (0, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0)]


def test_palette_is_the_trained_one_in_order() -> None:
    assert list(identity.PALETTE) == OFFICIAL_RGB
    assert identity.PALETTE_NAMES == ("blue", "red", "green", "magenta", "cyan", "yellow")
    assert [identity.identity_colour(i) for i in range(8)] == OFFICIAL_RGB + OFFICIAL_RGB[:2]


def test_backgrounds_per_mode_and_role() -> None:
    # process_animation_aio / v2_helper: driving on black, ref mask on white; process_replacement:
    # replace_mask.mp4 on white, ref_mask.png on black; ComfyUI SCAIL2ColoredMask the same.
    assert identity.background("animation", "driving") == (0, 0, 0)
    assert identity.background("animation", "reference") == (255, 255, 255)
    assert identity.background("replacement", "driving") == (255, 255, 255)
    assert identity.background("replacement", "reference") == (0, 0, 0)
    with pytest.raises(InputError, match="animation, replacement"):
        identity.background("e2e", "driving")
    with pytest.raises(InputError, match="driving, reference"):
        identity.background("animation", "pose")


def test_order_is_left_to_right_by_box_centre_with_unseen_last() -> None:
    boxes = np.array([[300, 0, 400, 10],   # centre 350
                      [0, 0, 500, 10],     # centre 250: wide box, leftmost centre
                      [np.nan] * 4,        # not in the first frame
                      [280, 0, 290, 10]])  # centre 285
    assert identity_order(boxes).tolist() == [2, 0, 3, 1]


def test_tracker_keeps_identities_and_orders_newcomers_by_arrival() -> None:
    tracker = IdentityTracker(3)
    assert tracker.update(np.array([[50, 0, 60, 9], [np.nan] * 4, [10, 0, 20, 9]])).tolist() == [1, -1, 0]
    # People swap sides: identities stay; person 1 arrives (at the far left) and comes after them.
    assert tracker.update(np.array([[0, 0, 5, 9], [1, 0, 2, 9], [90, 0, 99, 9]])).tolist() == [1, 2, 0]


def test_boxes_from_labels_and_points() -> None:
    labels = np.full((6, 8), -1)
    labels[1:3, 2:5] = 0
    labels[4, 7] = 1
    assert np.array_equal(label_boxes(labels, 3)[:2], [[2, 1, 4, 2], [7, 4, 7, 4]])
    assert np.isnan(label_boxes(labels, 3)[2]).all()
    xy = np.array([[[1.0, 2.0], [5.0, -1.0], [99.0, 99.0]]])
    assert point_boxes(xy, np.array([[True, True, False]])).tolist() == [[1.0, -1.0, 5.0, 2.0]]


@pytest.mark.parametrize(("mode", "role", "bg"), [("animation", "driving", 0), ("replacement", "driving", 255),
                                                   ("animation", "reference", 255), ("replacement", "reference", 0)])
def test_paint_is_flat_identity_colours_on_the_background(mode: str, role: str, bg: int) -> None:
    labels = np.full((4, 5), -1)
    labels[0, :2] = 0
    labels[3, 4] = 1
    labels[2, 2] = 2  # a person without an identity yet is background
    mask = paint_mask(labels, np.array([7, 0, -1]), mode, role)
    assert mask.dtype == np.uint8 and mask.shape == (4, 5, 3)
    assert mask[0, 0].tolist() == mask[0, 1].tolist() == list(OFFICIAL_RGB[7 % 6])
    assert mask[3, 4].tolist() == list(OFFICIAL_RGB[0])
    assert mask[2, 2].tolist() == [bg] * 3 and mask[1, 1].tolist() == [bg] * 3
    with pytest.raises(InputError, match="3 people"):
        paint_mask(np.full((2, 2), 3), np.array([0, 1, 2]), mode, role)
