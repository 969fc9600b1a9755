"""SOLOv2 head whose inference keeps small and adjacent objects (a
configurable area floor and score local maximum)."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import SOLOV2Head
from mmdet.registry import MODELS
from mmdet.utils import InstanceList


@MODELS.register_module()
class SOLOV2MinAreaHead(SOLOV2Head):
    """:class:`SOLOV2Head` with two inference filters of small objects as
    options: the minimum mask area and the local maximum of the grid scores.

    MMDetection's SOLOv2 (as the official SOLO code) drops every predicted
    mask whose pixel count *at the mask-feature resolution* (stride 4) is not
    above its level's stride: 8 pixels for the two finest levels, that is
    128 input pixels. At COCO's 1333 x 800 that only removes specks, but at
    the 512 px of the tiny configs it removes every object smaller than about
    11 x 11 px, however well it was predicted: a quarter of the 44 blobs of a
    one-class small-object set (README "Learnability"). The area floor is
    only a test-time filter (``SOLOV2Head`` uses ``strides`` nowhere else);
    training is unchanged.

    Before any mask is computed, SOLOv2 also keeps a grid cell's class score
    only where it is the maximum of its 2 x 2 window (the official
    ``points_nms``). A cell adjacent to a higher-scored cell of another object
    is dropped with its object: at the tiny configs' grid of 24 (21 px cells
    at 512 px), 6 of the 13 persons standing in a row of one coco128 image
    got no mask at all, although their own cells gave confident masks of IoU
    0.7-0.9. Without this filter the Matrix NMS, which compares the masks
    themselves, still removes the duplicates of one object (README
    "Learnability").

    Args:
        min_mask_pixels (float or Sequence[float], optional): A mask is kept
            when its pixel count at the mask-feature resolution is above this
            value (one per level, or one for all). None (default) keeps the
            official floor, the level strides; 0 keeps every non-empty mask.
        score_local_max (bool): Keep the official 2 x 2 local maximum of the
            grid scores (default); False passes every cell above
            ``score_thr`` to the Matrix NMS.
        *args, **kwargs: Arguments of :class:`SOLOV2Head`.
    """

    def __init__(self,
                 *args,
                 min_mask_pixels: Optional[Union[float,
                                                 Sequence[float]]] = None,
                 score_local_max: bool = True,
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
        self.score_local_max = score_local_max

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

    def predict_by_feat(self, mlvl_kernel_preds: List[Tensor],
                        mlvl_cls_scores: List[Tensor], mask_feats: Tensor,
                        batch_img_metas: List[dict],
                        **kwargs) -> InstanceList:
        """:meth:`SOLOV2Head.predict_by_feat`, optionally without the local
        maximum of the grid scores.

        Args:
            mlvl_kernel_preds (list[Tensor]): Dynamic kernels per level, each
                of shape (B, kernel_out_channels, num_grid, num_grid).
            mlvl_cls_scores (list[Tensor]): Class logits per level, each of
                shape (B, num_classes, num_grid, num_grid).
            mask_feats (Tensor): Mask features, shape (B, C, h, w).
            batch_img_metas (list[dict]): Meta information of the images.

        Returns:
            list[:obj:`InstanceData`]: ``scores``, ``labels``, ``masks``
            (num_instances, H, W) and placeholder ``bboxes`` per image.
        """
        if self.score_local_max:
            return super().predict_by_feat(mlvl_kernel_preds,
                                           mlvl_cls_scores, mask_feats,
                                           batch_img_metas, **kwargs)
        results = []
        for img_id, img_meta in enumerate(batch_img_metas):
            cls_scores = torch.cat([
                scores[img_id].sigmoid().permute(1, 2, 0).reshape(
                    -1, self.cls_out_channels) for scores in mlvl_cls_scores
            ])
            kernel_preds = torch.cat([
                kernels[img_id].permute(1, 2, 0).reshape(
                    -1, self.kernel_out_channels)
                for kernels in mlvl_kernel_preds
            ])
            results.append(
                self._predict_by_feat_single(
                    kernel_preds,
                    cls_scores,
                    mask_feats[[img_id]],
                    img_meta=img_meta))
        return results
