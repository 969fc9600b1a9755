"""One rasterisation of predicted polygons: ``RLEMasks.from_polygons`` (the
models' masks) goes through ``vertices_to_rle`` (the oracle's and the
diagnosis'), and both rasterise as pycocotools' ``frPyObjects``."""
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from mmdet_ext.geometry.hard_rasterizer import vertices_to_rle
from mmdet_ext.structures import RLEMasks

H, W = 70, 90


def _frpyobjects(polygons):
    """Reference: pycocotools' polygon rasterisation, one mask per row."""
    rles = mask_utils.frPyObjects(
        [p.reshape(-1).tolist() for p in polygons], H, W)
    return mask_utils.decode(rles).transpose(2, 0, 1)


@pytest.mark.parametrize('seed', range(5))
def test_from_polygons_rasterises_as_frpyobjects(seed):
    rng = np.random.default_rng(seed)
    # Sub-pixel vertices, some outside the image, self-intersecting stars.
    polygons = rng.uniform(-20, 110, (6, 24, 2))
    masks = RLEMasks.from_polygons(torch.as_tensor(polygons), H, W)
    reference = _frpyobjects(polygons)
    assert reference.any()
    assert np.array_equal(masks.to_ndarray(), reference)
    counts = [rle['counts'].decode() for rle in
              vertices_to_rle(polygons, H, W)]
    assert [mask['counts'] for mask in masks] == counts


def test_degenerate_polygons():
    square = np.array([[[10., 10.], [30., 10.], [30., 30.], [10., 30.]]])
    broken = square.copy()
    broken[0, 2, 0] = np.nan
    masks = RLEMasks.from_polygons(np.concatenate([square, broken]), H, W)
    assert masks.areas().tolist() == [400.0, 0.0]  # NaN: empty mask
    assert len(RLEMasks.from_polygons(np.zeros((0, 36, 2)), H, W)) == 0
    with pytest.raises(ValueError, match='at least 3 vertices'):
        RLEMasks.from_polygons(np.zeros((2, 2, 2)), H, W)
