"""SOLOv2 head whose inference keeps small masks (a configurable area floor)."""
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence, Union

from mmengine.structures import InstanceData

from mmdet.models.dense_heads import SOLOV2Head
from mmdet.registry import MODELS


@MODELS.register_module()
class SOLOV2MinAreaHead(SOLOV2Head):
    """:class:`SOLOV2Head` with the minimum mask area of inference as an
    option.

    MMDetection's SOLOv2 (as the official SOLO code) drops every predicted
    mask whose pixel count *at the mask-feature resolution* (stride 4) is not
    above its level's stride: 8 pixels for the two finest levels, that is
    128 input pixels. At COCO's 1333 x 800 that only removes specks, but at
    the 512 px of the tiny configs it removes every object smaller than about
    11 x 11 px, however well it was predicted: a quarter of the 44 blobs of a
    one-class small-object set (README "Learnability"). The area floor is
    only a test-time filter (``SOLOV2Head`` uses ``strides`` nowhere else);
    training is unchanged.

    Args:
        min_mask_pixels (float or Sequence[float], optional): A mask is kept
            when its pixel count at the mask-feature resolution is above this
            value (one per level, or one for all). None (default) keeps the
            official floor, the level strides; 0 keeps every non-empty mask.
        *args, **kwargs: Arguments of :class:`SOLOV2Head`.
    """

    def __init__(self,
                 *args,
                 min_mask_pixels: Optional[Union[float,
                                                 Sequence[float]]] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if min_mask_pixels is not None:
            if isinstance(min_mask_pixels, (int, float)):
                min_mask_pixels = [min_mask_pixels] * self.num_levels
            min_mask_pixels = [float(v) for v in min_mask_pixels]
            if len(min_mask_pixels) != self.num_levels or min(
                    min_mask_pixels) < 0:
                raise ValueError(
                    'min_mask_pixels must be one non-negative value or one '
                    f'per level ({self.num_levels}), got {min_mask_pixels}')
        self.min_mask_pixels = min_mask_pixels

    @contextmanager
    def _area_floor(self) -> Iterator[None]:
        """Let the parent's filter ``sum_masks > strides[level]`` read the
        area floor: ``strides`` is read nowhere else in SOLOv2, and this
        reuses MMDetection's post-processing instead of copying it."""
        strides = self.strides
        if self.min_mask_pixels is not None:
            self.strides = self.min_mask_pixels
        try:
            yield
        finally:
            self.strides = strides

    def _predict_by_feat_single(self, *args, **kwargs) -> InstanceData:
        """:meth:`SOLOV2Head._predict_by_feat_single` with the area floor."""
        with self._area_floor():
            return super()._predict_by_feat_single(*args, **kwargs)
