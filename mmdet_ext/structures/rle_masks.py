"""Instance masks kept as COCO run-length encodings.

Polar models predict polygons; turning them into full-resolution bitmaps (N x H x W) only to
RLE-encode them again in ``CocoMetric`` is what makes the official PolarNeXt's inference
slow. :class:`RLEMasks` carries pycocotools RLEs in ``InstanceData.masks`` and still
satisfies every consumer in MMDetection 3.3:

- ``CocoMetric`` keeps non-tensor masks as they are and reads ``masks[i]['counts']``;
- ``DetLocalVisualizer`` calls ``masks.astype(bool)`` (decoded on demand);
- ``DetInferencer`` iterates the masks and slices each one as an array
  (:class:`RLEMask` decodes itself when indexed with anything but a key);
- ``InstanceData`` indexing slices and concatenates the list (type preserved).
"""
from typing import Iterable, List, Union

import numpy as np
from pycocotools import mask as mask_utils

from mmdet_ext.geometry.hard_rasterizer import vertices_to_rle


def paired_mask_ious(masks: List[dict], others: List[dict]) -> np.ndarray:
    """IoU of ``masks[i]`` with ``others[i]`` for every i (pycocotools).

    Args:
        masks (list[dict]): N COCO RLEs.
        others (list[dict]): N COCO RLEs, of the same image size.

    Returns:
        np.ndarray: (N, ) IoUs (empty for N = 0).
    """
    if not masks:
        return np.zeros(0)
    ious = mask_utils.iou(masks, others, [0] * len(others))
    return np.diagonal(np.asarray(ious).reshape(len(masks), len(others)))


class RLEMask(dict):
    """One COCO RLE (``{'size': [h, w], 'counts': str}``) that also behaves as
    its decoded (H, W) uint8 array when indexed with non-string keys."""

    def decode(self) -> np.ndarray:
        """Decoded mask (H, W), uint8 0/1."""
        return mask_utils.decode(dict(self))

    def __getitem__(self, key):
        if isinstance(key, str):
            return super().__getitem__(key)
        return self.decode()[key]

    def __array__(self, dtype=None, copy=None):
        array = self.decode()
        return array if dtype is None else array.astype(dtype)

    @property
    def shape(self):
        return tuple(self['size'])

    def area(self) -> float:
        return float(mask_utils.area(dict(self)))


class RLEMasks(list):
    """A list of :class:`RLEMask` of one image, all of the same size.

    Args:
        rles (Iterable[dict]): pycocotools RLE dicts (``counts`` as bytes or
            str; stored as str so the results serialise to json).
        height (int): Image height.
        width (int): Image width.
    """

    def __init__(self, rles: Iterable[dict] = (), height: int = 0,
                 width: int = 0) -> None:
        super().__init__(self._as_rle_mask(rle) for rle in rles)
        self.height = int(height)
        self.width = int(width)

    @staticmethod
    def _as_rle_mask(rle: dict) -> RLEMask:
        counts = rle['counts']
        if isinstance(counts, bytes):
            counts = counts.decode()
        return RLEMask(size=list(rle['size']), counts=counts)

    def _like(self, items: List[RLEMask]) -> 'RLEMasks':
        return RLEMasks(items, self.height, self.width)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self._like(list.__getitem__(self, item))
        return list.__getitem__(self, item)

    def __add__(self, other: list) -> 'RLEMasks':
        return self._like(list(self) + list(other))

    def cat(self, parts: List['RLEMasks']) -> 'RLEMasks':
        return self._like([m for part in parts for m in part])

    def to_ndarray(self) -> np.ndarray:
        """Decoded masks (N, H, W), uint8."""
        if not len(self):
            return np.zeros((0, self.height, self.width), dtype=np.uint8)
        return np.ascontiguousarray(
            mask_utils.decode([dict(m) for m in self]).transpose(2, 0, 1))

    def astype(self, dtype: Union[str, type]) -> np.ndarray:
        """Decoded masks (N, H, W) as ``dtype`` (what the visualiser uses)."""
        return self.to_ndarray().astype(dtype)

    def areas(self) -> np.ndarray:
        """Pixel areas (N, )."""
        if not len(self):
            return np.zeros((0, ), dtype=np.float64)
        return mask_utils.area([dict(m) for m in self]).astype(np.float64)

    @classmethod
    def from_polygons(cls, polygons, height: int, width: int) -> 'RLEMasks':
        """Rasterise single-part polygons with pycocotools (sub-pixel exact
        area coverage at pixel centres, no full-size float canvas), through
        :func:`~mmdet_ext.geometry.hard_rasterizer.vertices_to_rle`: a
        polygon with a non-finite vertex gives an empty mask.

        Args:
            polygons (Tensor | ndarray): Vertices (N, K, 2), K >= 3, in
                pixels of the (height, width) image.
            height (int): Output height.
            width (int): Output width.

        Returns:
            RLEMasks: N masks.
        """
        if len(polygons) and polygons.shape[1] < 3:
            raise ValueError('polygons need at least 3 vertices, got '
                             f'{polygons.shape[1]}')
        return cls(vertices_to_rle(polygons, height, width), height, width)
