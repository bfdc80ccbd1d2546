"""SCAIL-2 identity masks: which colour each character gets and how a mask frame is painted.

SCAIL-2 binds characters to identities through masks in a trained colour code. The facts below
were checked against the official code (SCAIL-Pose's TrackSam3/track.py, v2_helper.py,
process_animation_aio.py, process_replacement.py; ComfyUI's comfy_extras/nodes_scail.py):

- The palette, by person index mod 6: blue, red, green, magenta, cyan, yellow, pure 0/255
  channels ("the model was trained on these exact colors").
- People are ordered left to right by the centre of their box in the first frame (SCAIL-Pose:
  the horizontal middle of the mask's bounding box in frame 0). People not visible in the first
  frame come after those who are, in the order they first appear (ComfyUI's rule), so a
  character keeps its colour for the whole clip whatever it does later.
- Backgrounds: animation mode paints the driving mask on black and the reference mask on white;
  replacement mode paints the driving (replacement-region) mask on white and the reference mask
  on black.

Masks are flat colours with no anti-aliasing: the model thresholds every channel at > 225 and
any in-between value would change the class of a pixel.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 255),    # blue
    (255, 0, 0),    # red
    (0, 255, 0),    # green
    (255, 0, 255),  # magenta
    (0, 255, 255),  # cyan
    (255, 255, 0),  # yellow
)
PALETTE_NAMES = ("blue", "red", "green", "magenta", "cyan", "yellow")
MODES = ("animation", "replacement")
ROLES = ("driving", "reference")
BACKGROUNDS: dict[tuple[str, str], tuple[int, int, int]] = {
    ("animation", "driving"): BLACK,
    ("animation", "reference"): WHITE,
    ("replacement", "driving"): WHITE,
    ("replacement", "reference"): BLACK,
}


def background(mode: str, role: str) -> tuple[int, int, int]:
    """The background colour of a ``role`` mask ("driving" or "reference") in ``mode``."""
    if mode not in MODES:
        raise InputError(f"unknown mask mode {mode!r}: use one of {', '.join(MODES)}")
    if role not in ROLES:
        raise InputError(f"unknown mask role {role!r}: use one of {', '.join(ROLES)}")
    return BACKGROUNDS[mode, role]


def identity_colour(identity: int) -> tuple[int, int, int]:
    """The colour of identity ``identity`` (0 = leftmost in the first frame)."""
    return PALETTE[identity % len(PALETTE)]


def identity_order(boxes: np.ndarray) -> np.ndarray:
    """Identity index per person from their first-frame boxes ``[P, 4]`` (x0, y0, x1, y1).

    A row of NaN is a person not visible in that frame; they come last, in person order (use
    ``IdentityTracker`` to order them by when they first appear). Ties keep person order.
    """
    arr = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (arr[:, 0] + arr[:, 2]) / 2
    centre = np.where(np.isfinite(centre), centre, np.inf)
    ranks = np.empty(len(arr), np.int64)
    ranks[np.argsort(centre, kind="stable")] = np.arange(len(arr))
    return ranks


def label_boxes(person_labels: np.ndarray, people: int) -> np.ndarray:
    """Bounding boxes ``[people, 4]`` (x0, y0, x1, y1, inclusive pixel indices) of each person's
    pixels in a label image (-1 = background); NaN for a person with no pixels."""
    boxes = np.full((people, 4), np.nan)
    for p in range(people):
        rows, cols = np.nonzero(person_labels == p)
        if len(cols):
            boxes[p] = (cols.min(), rows.min(), cols.max(), rows.max())
    return boxes


def point_boxes(xy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Boxes ``[P, 4]`` of projected points ``xy`` ``[P, J, 2]`` where ``valid`` ``[P, J]``; NaN
    for a person with no valid point (for framing the order from joints instead of pixels)."""
    boxes = np.full((xy.shape[0], 4), np.nan)
    for p in range(xy.shape[0]):
        pts = xy[p][valid[p]]
        if len(pts):
            boxes[p] = (*pts.min(axis=0), *pts.max(axis=0))
    return boxes


class IdentityTracker:
    """Assigns identities frame by frame: the people visible in the first frame left to right,
    then each later newcomer (left to right among those arriving in the same frame)."""

    def __init__(self, people: int) -> None:
        self.identities = np.full(people, -1, np.int64)
        self._next = 0

    def update(self, boxes: np.ndarray) -> np.ndarray:
        """Give identities to the people first seen in this frame's ``boxes``; returns them all
        (-1 for people not seen yet)."""
        fresh = (self.identities < 0) & np.isfinite(np.asarray(boxes, np.float64)).all(axis=1)
        if fresh.any():
            ranks = identity_order(np.where(fresh[:, None], boxes, np.nan))
            self.identities[fresh] = self._next + ranks[fresh]
            self._next += int(fresh.sum())
        return self.identities


def paint_mask(person_labels: np.ndarray, identities: np.ndarray, mode: str, role: str) -> np.ndarray:
    """A mask frame ``[H, W, 3]`` uint8 from per-pixel person labels (-1 = background): each
    person in its identity's colour, everything else the background of ``mode``/``role``.

    ``identities[p]`` is person p's identity; a person with identity -1 is painted as background.
    """
    bg = background(mode, role)
    ids = np.asarray(identities, np.int64)
    lut = np.array([identity_colour(int(i)) if i >= 0 else bg for i in ids] + [bg], np.uint8).reshape(-1, 3)
    labels = np.asarray(person_labels)
    if labels.size and (labels.max(initial=-1) >= len(ids) or labels.min(initial=-1) < -1):
        raise InputError(f"person labels run from {labels.min()} to {labels.max()} but {len(ids)} people have identities")
    return lut[np.where(labels >= 0, labels, len(ids))]
