"""Multi-part polygons survive MMDetection's standard transforms unchanged in
structure, and PolygonTensor reads them afterwards (no mmdet file replaced)."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import PolygonMasks
from mmdet_ext.structures import PolygonTensor

H, W = 100, 200


def _results():
    two_parts = [
        np.array([10, 10, 50, 10, 50, 40, 10, 40], dtype=np.float64),
        np.array([120, 60, 180, 60, 150, 90], dtype=np.float64)
    ]
    one_part = [np.array([60, 20, 90, 20, 90, 80, 60, 80], dtype=np.float64)]
    return dict(
        img=np.zeros((H, W, 3), dtype=np.uint8),
        img_shape=(H, W),
        ori_shape=(H, W),
        gt_bboxes=HorizontalBoxes(
            torch.tensor([[10., 10., 180., 90.], [60., 20., 90., 80.]])),
        gt_bboxes_labels=np.array([0, 1]),
        gt_ignore_flags=np.array([False, False]),
        gt_masks=PolygonMasks([two_parts, one_part], H, W))


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmdet')


def _apply(cfg):
    return TRANSFORMS.build(cfg)(_results())


def test_resize_scales_every_part():
    out = _apply(dict(type='Resize', scale=(400, 200), keep_ratio=True))
    poly = PolygonTensor.from_polygon_masks(out['gt_masks'])
    assert poly.num_parts.tolist() == [2, 1]
    assert torch.allclose(poly.areas(),
                          torch.tensor([1200. + 900., 1800.]) * 4)


def test_flip_mirrors_every_part():
    out = _apply(dict(type='RandomFlip', prob=1.0, direction='horizontal'))
    poly = PolygonTensor.from_polygon_masks(out['gt_masks'])
    boxes = poly.bboxes()
    assert torch.allclose(boxes[0], torch.tensor([W - 180., 10., W - 10., 90.]))
    assert poly.num_parts.tolist() == [2, 1]


def test_pad_keeps_coordinates():
    out = _apply(dict(type='Pad', size=(256, 128)))
    poly = PolygonTensor.from_polygon_masks(out['gt_masks'])
    assert torch.allclose(poly.bboxes()[1], torch.tensor([60., 20., 90., 80.]))


def test_crop_keeps_remaining_parts():
    transform = TRANSFORMS.build(
        dict(type='RandomCrop', crop_size=(100, 100), allow_negative_crop=True))
    # Force the crop window to the left half: offsets come from the RNG.
    np.random.seed(0)
    out = None
    for _ in range(50):
        out = transform(_results())
        if out is not None and len(out['gt_masks']) == 2:
            break
    poly = PolygonTensor.from_polygon_masks(out['gt_masks'])
    assert (poly.vertices[poly.part_ids >= 0] <= 100 + 1e-6).all()
    assert torch.isfinite(poly.areas()).all()
