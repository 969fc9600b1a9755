"""Tests for mmdet_ext.structures.mask_tracing: the one way from ground
truth (COCO segmentations, mmdet masks) to polygons. The tracer's own
exactness is tested in tests/test_reliability/test_datasets_transforms.py."""
import numpy as np
import torch
from pycocotools import mask as mask_utils

from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet_ext.geometry.hard_rasterizer import polygons_to_crop_masks
from mmdet_ext.structures.mask_tracing import (gt_polygon_tensor,
                                               instance_polygons,
                                               rle_to_polygons)

SIZE = 32


def ring_mask() -> np.ndarray:
    """(SIZE, SIZE) square of 20 x 20 pixels with a 6 x 4 hole off-centre."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[4:24, 6:26] = 1
    mask[9:13, 10:16] = 0
    return mask


def compressed_rle(mask: np.ndarray) -> dict:
    """COCO-file form of a mask: compressed counts as a str."""
    rle = mask_utils.encode(np.asfortranarray(mask))
    return dict(size=[int(v) for v in rle['size']],
                counts=rle['counts'].decode())


def pixel_centre_masks(polygons) -> np.ndarray:
    """Even-odd masks (N, SIZE, SIZE) of a PolygonTensor at the pixel
    centres of the whole image (a crop box equal to the image)."""
    edges, valid = polygons.edges()
    boxes = torch.tensor([[0., 0., SIZE, SIZE]]).expand(len(polygons), 4)
    return polygons_to_crop_masks(edges, valid, boxes, SIZE).numpy()


def test_polygons_pass_through_and_rles_are_traced_as_the_loader_does():
    square = [10., 10., 20., 10., 20., 20., 10., 20.]
    empty = compressed_rle(np.zeros((SIZE, SIZE), np.uint8))
    ring = compressed_rle(ring_mask())
    parts = instance_polygons([[square], ring, empty, []])
    assert parts[0] == [square] and parts[2] == [] and parts[3] == []
    # holes filled, as RLEToPolygons gives RLE objects to the polar heads
    assert parts[1] == rle_to_polygons(ring)
    assert parts[1] == [[6., 4., 6., 24., 26., 24., 26., 4.]]
    polygon_masks = PolygonMasks([[np.asarray(square)]], SIZE, SIZE)
    assert instance_polygons(polygon_masks) == polygon_masks.masks


def test_bitmaps_keep_their_holes_exactly():
    mask = ring_mask()
    masks = BitmapMasks(np.stack([mask, np.zeros_like(mask)]), SIZE, SIZE)
    polygons = gt_polygon_tensor(masks, dtype=torch.float64)
    # One row per object, the empty bitmap an invalid one.
    assert polygons.valid.tolist() == [True, False]
    assert polygons.num_parts.tolist() == [1, 0]
    # The hole runs against the outline: the area is the pixel count.
    assert polygons.areas()[0].item() == mask.sum() == 20 * 20 - 6 * 4
    # pycocotools and the even-odd rule of the polar geometry both see
    # exactly the bitmap's pixels.
    flat = polygons.to_list()[0]
    rles = mask_utils.frPyObjects([p.tolist() for p in flat], SIZE, SIZE)
    np.testing.assert_array_equal(
        mask_utils.decode(mask_utils.merge(rles)), mask)
    np.testing.assert_array_equal(pixel_centre_masks(polygons)[0], mask)


def test_device_and_dtype_are_passed_on():
    polygons = gt_polygon_tensor([[[0., 0., 4., 0., 4., 4.]]], 'cpu',
                                 torch.float32)
    assert polygons.dtype == torch.float32
    assert polygons.device == torch.device('cpu')
    assert polygons.areas().tolist() == [8.0]
