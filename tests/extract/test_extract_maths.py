"""The official detector maths, each step against answers worked out by hand from the official
recipe (DWPose onnxdet/onnxpose as SCAIL-Pose runs them), and the image warps against OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from scail_blender.extract import detector, wholebody
from scail_blender.extract.images import resize_linear, warp_affine
from scail_blender.extract.nlf3d import NlfBatcher, mask_bounds, pick_detection


def _raw(rows: list[tuple[float, float, float, float, float, int]]) -> np.ndarray:
    """A YOLOX output [1, 8400, 85] with boxes (cx, cy, w, h in 640 pixels, score, class) in the
    first stride-8 cells."""
    out = np.zeros((1, 8400, 85), np.float32)
    for i, (cx, cy, w, h, score, cls) in enumerate(rows):
        out[0, i, :4] = [cx / 8 - i, cy / 8, np.log(w / 8), np.log(h / 8)]
        out[0, i, 4] = score
        out[0, i, 5 + cls] = 1.0
    return out


def test_yolox_decode_threshold_nms_and_class() -> None:
    raw = _raw([(100, 200, 40, 80, 0.9, 0), (102, 200, 40, 80, 0.8, 0),  # near duplicate: removed
                (300, 300, 50, 50, 0.31, 0), (400, 100, 30, 30, 0.29, 0),  # below 0.3
                (500, 500, 60, 60, 0.95, 1)])                               # not a person
    boxes = detector.decode(raw, ratio=0.5)
    np.testing.assert_allclose(boxes, [[160, 320, 240, 480, 0.9], [550, 550, 650, 650, 0.31]], rtol=1e-5)


def test_nms_uses_inclusive_areas() -> None:
    # With YOLOX's +1 areas the IoU is 100 / 200 = 0.5; with plain areas it would be 81 / 171 = 0.47.
    boxes = np.array([[0, 0, 9, 9], [0, 0, 9, 19.0]])
    scores = np.array([0.9, 0.8])
    assert detector.nms(boxes, scores, iou=0.49) == [0]
    assert detector.nms(boxes, scores, iou=0.51) == [0, 1]


def test_letterbox_geometry() -> None:
    frame = np.full((256, 448, 3), 200, np.uint8)
    box = detector.letterbox(frame)
    assert box.ratio == pytest.approx(640 / 448)
    assert box.image.shape == (1, 3, 640, 640) and box.image.dtype == np.float32
    rows = int(256 * 640 / 448)
    assert np.all(box.image[0, :, :rows] == 200) and np.all(box.image[0, :, rows:] == 114)


def test_crop_box_padding_and_aspect() -> None:
    # A tall box: height * 1.25 = 200 decides, width becomes 200 * 288 / 384 = 150.
    centre, scale = wholebody.crop_box(np.array([30, 40, 70, 200, 0.9]))
    np.testing.assert_allclose(centre, [50, 120])
    np.testing.assert_allclose(scale, [150, 200])
    # A wide box: width * 1.25 = 250 decides, height 250 * 384 / 288.
    _, scale = wholebody.crop_box(np.array([0, 0, 200, 50]))
    np.testing.assert_allclose(scale, [250, 250 * 384 / 288])


def test_crop_matrix_maps_the_footprint_onto_the_input() -> None:
    centre, scale = np.array([50.0, 120.0]), np.array([150.0, 200.0])
    m = wholebody.crop_matrix(centre, scale)
    corners = np.array([[50 - 75, 120 - 100, 1], [50 + 75, 120 + 100, 1], [50, 120, 1]])
    np.testing.assert_allclose(corners @ m.T, [[0, 0], [288, 384], [144, 192]], atol=1e-9)
    # decoding maps crop pixels back with the official rescale, the inverse of this matrix
    points = np.array([[0.0, 0.0], [144.0, 192.0], [287.5, 10.0]])
    back = wholebody.to_frame(points, centre, scale)
    np.testing.assert_allclose(np.c_[back, np.ones(3)] @ m.T, points, atol=1e-9)


def test_simcc_decoding() -> None:
    x = np.zeros((1, 3, 576), np.float32)
    y = np.zeros((1, 3, 768), np.float32)
    x[0, 0, 101], y[0, 0, 300] = 0.8, 0.6   # score = the smaller maximum
    x[0, 1, 10], y[0, 1, 20] = 0.5, 0.9
    x[0, 2] -= 1.0                          # nothing positive: location -1
    y[0, 2] -= 1.0
    points, scores = wholebody.decode_simcc(x, y)
    np.testing.assert_allclose(points[0, :2], [[50.5, 150.0], [5.0, 10.0]])
    np.testing.assert_allclose(scores[0], [0.6, 0.5, -1.0])
    np.testing.assert_allclose(points[0, 2], [-0.5, -0.5])


def test_networks_get_bgr_and_the_official_normalisation() -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200  # pure red
    assert detector.letterbox(rgb).image[0, :, 0, 0].tolist() == [0, 0, 200]
    crop = wholebody.Crop(np.full((384, 288, 3), [103, 116, 123], np.uint8), np.zeros(2), np.ones(2))
    values = wholebody.model_input([crop])[0, :, 0, 0]
    np.testing.assert_allclose(values, (np.array([123, 116, 103]) - wholebody.MEAN) / wholebody.STD, rtol=1e-6)


def test_nlf_mask_margins() -> None:
    # 2.5% of W = 11.2 px each side, 5% of H = 12.8 px top and bottom, floor / ceil, clipped
    assert mask_bounds(np.array([30.0, 40.0, 70.0, 200.0]), 256, 448) == (18, 27, 82, 213)
    assert mask_bounds(np.array([2.0, 5.0, 440.0, 250.0]), 256, 448) == (0, 0, 448, 256)

    torch = pytest.importorskip("torch")
    seen: list[np.ndarray] = []

    class Model:
        def detect_smpl_batched(self, images):
            seen.append(images.numpy().copy())
            return {"joints3d_nonparam": [torch.zeros(0, 24, 3)] * len(images)}

    done: list[object] = []
    batcher = NlfBatcher(Model(), "cpu", lambda key, joints: done.append((key, joints)), batch=2)
    frame = np.full((256, 448, 3), 9, np.uint8)
    for key, box in enumerate(([30.0, 40.0, 70.0, 200.0], [300.0, 10.0, 330.0, 50.0], [0.0, 0.0, 10.0, 10.0])):
        batcher.add(key, frame, np.array(box))
    batcher.flush()
    first, second = seen
    assert first.shape == (2, 3, 256, 448) and second.shape == (1, 3, 256, 448)
    assert first[0][:, 27:213, 18:82].min() == 9 and first[0].sum() == 9 * 3 * (213 - 27) * (82 - 18)
    assert second[0].sum() == 9 * 3 * 23 * 22  # the buffer was cleared: nothing left of the first batch
    assert done == [(0, None), (1, None), (2, None)]


def test_nlf_detection_is_the_one_overlapping_the_box() -> None:
    joints = np.stack([np.full((24, 3), 1.0), np.full((24, 3), 2.0)])
    nlf_boxes = np.array([[150, 80, 44, 170, 0.9], [142, 40, 40, 160, 0.9]])  # x, y, w, h
    assert pick_detection(nlf_boxes, joints, np.array([142, 40, 182, 200]))[0, 0] == 2.0
    assert pick_detection(None, joints, np.array([142, 40, 182, 200]))[0, 0] == 1.0  # no boxes: detection 0
    assert pick_detection(nlf_boxes[:0], joints[:0], np.array([0, 0, 1, 1])) is None


@pytest.fixture(scope="module")
def textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 200, 3)).astype(np.float64)
    for _ in range(2):  # soften so that sub-pixel sampling matters
        image = (image + np.roll(image, 1, 0) + np.roll(image, 1, 1)) / 3
    return image.astype(np.uint8)


def test_warp_matches_opencv(textured: np.ndarray) -> None:
    cv2 = pytest.importorskip("cv2")
    for box in ([30, 40, 70, 100], [-20, 10, 150, 130], [100.3, 50.7, 160.2, 90.9]):
        centre, scale = wholebody.crop_box(np.array(box, np.float64))
        m = wholebody.crop_matrix(centre, scale)
        ours = warp_affine(textured, m, (384, 288)).astype(int)
        theirs = cv2.warpAffine(textured, m, (288, 384), flags=cv2.INTER_LINEAR)
        assert np.abs(ours - theirs).max() <= 1
        assert (ours != theirs).mean() < 0.02


def test_resize_matches_opencv(textured: np.ndarray) -> None:
    cv2 = pytest.importorskip("cv2")
    for size in ((68, 114), (240, 400), (120, 333)):
        ours = resize_linear(textured, size).astype(int)
        theirs = cv2.resize(textured, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        assert np.abs(ours - theirs).max() <= 1


def test_warp_refuses_rotation(textured: np.ndarray) -> None:
    with pytest.raises(ValueError):
        warp_affine(textured, np.array([[1.0, 0.1, 0], [0, 1, 0]]), (10, 10))
