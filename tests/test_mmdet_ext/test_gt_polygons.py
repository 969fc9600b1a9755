"""Tests for mmdet_ext.task_modules.gt_polygons: the polar heads' GT polygons
come from the one GT-to-polygon path (pixel-corner outlines)."""
import numpy as np
import torch
from mmengine.structures import InstanceData
from pycocotools import mask as mask_utils

from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet_ext.task_modules import gt_polygons


def _instances(masks, labels):
    return InstanceData(masks=masks, labels=torch.tensor(labels))


def test_bitmap_square_gives_its_pixel_corner_polygon():
    bitmap = np.zeros((1, 10, 12), np.uint8)
    bitmap[0, 2:6, 3:7] = 1  # rows 2..5, columns 3..6: 16 pixels
    polygons, labels = gt_polygons(
        _instances(BitmapMasks(bitmap, 10, 12), [4]), torch.device('cpu'))
    assert labels.tolist() == [4]
    corners = {tuple(v) for v in polygons.vertices[0].tolist()}
    assert corners == {(3., 2.), (7., 2.), (7., 6.), (3., 6.)}
    # mmdet's bitmap_to_polygon traced pixel centres: area 9, not 16.
    assert polygons.areas().tolist() == [16.0]
    assert polygons.bboxes().tolist() == [[3., 2., 7., 6.]]


def test_bitmap_with_hole_and_empty_object():
    bitmap = np.zeros((3, 16, 16), np.uint8)
    bitmap[0, 2:10, 2:10] = 1
    bitmap[0, 4:7, 4:7] = 0  # 64 - 9 pixels
    bitmap[2, 12:14, 1:4] = 1  # 6 pixels; object 1 is empty and dropped
    polygons, labels = gt_polygons(
        _instances(BitmapMasks(bitmap, 16, 16), [0, 1, 2]),
        torch.device('cpu'))
    assert labels.tolist() == [0, 2]
    assert polygons.areas().tolist() == [55.0, 6.0]
    # The polygon of the ring rasterises back to the bitmap (pycocotools).
    flat = polygons.vertices[0][polygons.part_ids[0] >= 0].reshape(-1)
    rle = mask_utils.frPyObjects([flat.double().numpy().tolist()], 16, 16)
    assert (mask_utils.decode(rle)[..., 0] == bitmap[0]).all()


def test_polygon_masks_are_used_as_they_are():
    square = [np.array([1.5, 1.5, 5.5, 1.5, 5.5, 4.5, 1.5, 4.5])]
    degenerate = [np.array([0., 0., 1., 1., 2., 2.])]  # zero area: dropped
    polygons, labels = gt_polygons(
        _instances(PolygonMasks([square, degenerate], 8, 8), [3, 5]),
        torch.device('cpu'))
    assert labels.tolist() == [3]
    assert polygons.areas().tolist() == [12.0]
