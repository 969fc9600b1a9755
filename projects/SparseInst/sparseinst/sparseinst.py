"""SparseInst detector: backbone, instance context encoder, IAM decoder;
Hungarian-matched training and NMS-free inference."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from pycocotools import mask as mask_utils
from torch import Tensor

from mmdet.models.detectors.base import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptMultiConfig)
from mmdet_ext.structures.rle_masks import RLEMasks

# Test-time defaults (official): a query is kept when sqrt(cls * obj) >
# score_thr; masks are binarised at mask_thr; with mask_output the masks are
# returned as RLEMasks, without it only boxes (from the stride-4 masks).
DEFAULT_TEST_CFG = dict(
    score_thr=0.005, mask_thr=0.45, max_per_img=100, mask_output=True)
# Number of masks upsampled to full resolution at a time: bounds the float
# buffers (100 masks of 640 x 864 would be 221 MB at once).
MASK_CHUNK = 16


def encode_rle(masks: Tensor) -> RLEMasks:
    """Binary masks (n, H, W) -> :class:`RLEMasks` (pycocotools RLE)."""
    height, width = masks.shape[-2:]
    if len(masks) == 0:
        return RLEMasks([], height, width)
    # pycocotools wants (H, W, n) in Fortran order, which is the memory
    # layout of a C-contiguous (n, W, H): one transposing copy.
    array = masks.transpose(1, 2).to(torch.uint8).contiguous().cpu()
    return RLEMasks(
        mask_utils.encode(array.numpy().transpose(2, 1, 0)), height, width)


def mask_boxes(masks: Tensor) -> Tensor:
    """Tight boxes (x1, y1, x2, y2) of binary masks, x2 / y2 exclusive
    (mmdet's ``mask2bbox``, vectorised); an empty mask gives zeros.

    Args:
        masks (Tensor): Binary masks (n, H, W).

    Returns:
        Tensor: Boxes (n, 4), float32.
    """
    # uint8 max-reductions are an order of magnitude faster than bool any()
    # on CPU (100 masks of 800 x 1333: 0.03 s instead of 0.4 s).
    masks = masks.view(torch.uint8) if masks.dtype == torch.bool \
        else masks.to(torch.uint8)
    boxes = []
    for filled_along in (masks.amax(dim=1), masks.amax(dim=2)):  # x, y
        filled = filled_along.amax(dim=1).bool()
        size = filled_along.shape[1]
        # argmax returns the first maximal index
        first = filled_along.argmax(dim=1)
        last = size - filled_along.flip(1).argmax(dim=1)
        boxes.append((first.where(filled, 0), last.where(filled, 0)))
    (x1, x2), (y1, y2) = boxes
    return torch.stack([x1, y1, x2, y2], dim=1).float()


def full_resolution_masks(probs: Tensor, pad_shape: Tuple[int, int],
                          img_shape: Tuple[int, int],
                          out_shape: Tuple[int, int],
                          mask_thr: float) -> Tensor:
    """Binary masks of the output size.

    Probabilities are upsampled bilinearly to the padded input, cropped to
    the resized image, resized to the output size (the original image when
    rescaling) and binarised at ``mask_thr`` (official order), a chunk at a
    time.

    Args:
        probs (Tensor): Mask probabilities (n, h, w) at stride 4 of the
            padded input.
        pad_shape (tuple[int, int]): (H, W) of the padded input.
        img_shape (tuple[int, int]): (H, W) of the resized image.
        out_shape (tuple[int, int]): (H, W) of the masks.
        mask_thr (float): Binarisation threshold.

    Returns:
        Tensor: Masks (n, *out_shape), bool.
    """
    img_h, img_w = img_shape
    out_shape = tuple(out_shape)
    chunks = [torch.zeros((0, *out_shape), dtype=torch.bool,
                          device=probs.device)]
    for chunk in probs.split(MASK_CHUNK):
        masks = F.interpolate(
            chunk[:, None], size=tuple(pad_shape), mode='bilinear',
            align_corners=False)[..., :img_h, :img_w]
        if masks.shape[-2:] != out_shape:
            masks = F.interpolate(
                masks, size=out_shape, mode='bilinear', align_corners=False)
        chunks.append(masks[:, 0] > mask_thr)
    return torch.cat(chunks)


def stride4_boxes(masks: Tensor,
                  pad_shape: Tuple[int, int],
                  img_shape: Tuple[int, int],
                  scale_factor: Optional[Tuple[float, float]] = None
                  ) -> Tensor:
    """Boxes of binary stride-4 masks, in image pixels (the cheap boxes of
    ``mask_output=False``; empty masks give zero boxes).

    Args:
        masks (Tensor): Binary masks (n, h, w) of the padded input at
            stride 4.
        pad_shape (tuple[int, int]): (H, W) of the padded input.
        img_shape (tuple[int, int]): (H, W) of the resized image (boxes are
            clipped to it).
        scale_factor (tuple[float, float], optional): (w, h) factor of the
            resize; given, the boxes are mapped to the original image.

    Returns:
        Tensor: Boxes (n, 4), float32.
    """
    pad_h, pad_w = pad_shape
    stride = masks.new_tensor(
        [pad_w / masks.shape[-1], pad_h / masks.shape[-2]] * 2,
        dtype=torch.float32)
    boxes = mask_boxes(masks) * stride
    img_h, img_w = img_shape
    boxes = boxes.minimum(boxes.new_tensor([img_w, img_h] * 2))
    if scale_factor is not None:
        boxes = boxes / boxes.new_tensor(list(scale_factor)[:2]).repeat(2)
    return boxes


def rasterize_gt_masks(masks, pad_shape: Tuple[int, int],
                       device: torch.device) -> Tensor:
    """Ground-truth instance masks as a (G, H, W) uint8 tensor of the padded
    input size (zero-padded on the bottom and right).

    Args:
        masks (PolygonMasks | BitmapMasks | Tensor): Instance masks of the
            (resized, possibly padded) image.
        pad_shape (tuple[int, int]): Padded batch input (H, W).
        device (torch.device): Output device.

    Returns:
        Tensor: Masks (G, H, W), uint8 0/1.
    """
    if isinstance(masks, (PolygonMasks, BitmapMasks)):
        masks = masks.to_tensor(dtype=torch.uint8, device=device)
    masks = torch.as_tensor(masks, device=device).to(torch.uint8)
    height, width = masks.shape[-2:]
    masks = masks[:, :pad_shape[0], :pad_shape[1]]
    return F.pad(masks, (0, pad_shape[1] - min(width, pad_shape[1]), 0,
                         pad_shape[0] - min(height, pad_shape[0])))


@MODELS.register_module()
class SparseInst(BaseDetector):
    """`SparseInst: Sparse Instance Activation for Real-Time Instance
    Segmentation (CVPR 2022) <https://arxiv.org/abs/2203.12827>`_.

    N instance activation maps give N instance predictions (class logits,
    objectness, mask kernel); training matches them one-to-one to the
    ground truth, inference keeps every query above ``score_thr`` without
    NMS. Results follow the harness: ``bboxes`` derived from the masks, and
    ``masks`` as :class:`RLEMasks` when ``test_cfg.mask_output`` is on.

    Args:
        backbone (dict): Backbone config (ResNet returning C3-C5).
        encoder (dict): :class:`InstanceContextEncoder` config.
        decoder (dict): IAM decoder config (:class:`BaseIAMDecoder`,
            :class:`GroupIAMDecoder` or :class:`GroupIAMSoftDecoder`).
        criterion (dict): :class:`SparseInstCriterion` config.
        train_cfg (dict, optional): Unused (kept for the harness).
        test_cfg (dict, optional): ``score_thr``, ``mask_thr``,
            ``max_per_img``, ``mask_output``; missing keys take the
            official defaults.
        data_preprocessor (dict, optional): Data preprocessor config; it
            must pad masks (``pad_mask=True``) to a multiple of 32.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 encoder: ConfigType,
                 decoder: ConfigType,
                 criterion: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.encoder = MODELS.build(encoder)
        self.decoder = MODELS.build(decoder)
        self.criterion = MODELS.build(criterion)
        if self.criterion.num_classes != self.decoder.num_classes:
            raise ValueError(
                f'criterion.num_classes={self.criterion.num_classes} differs '
                f'from decoder.num_classes={self.decoder.num_classes}')
        self.train_cfg = train_cfg
        self.test_cfg = ConfigDict(DEFAULT_TEST_CFG, **(test_cfg or {}))

    # ------------------------------------------------------------ forward
    def extract_feat(self, batch_inputs: Tensor) -> Tensor:
        """Encoder features (B, C, H/8, W/8) of images (B, 3, H, W)."""
        return self.encoder(self.backbone(batch_inputs))

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None
                 ) -> Dict[str, Tensor]:
        """Raw decoder outputs (see :meth:`BaseIAMDecoder.forward`)."""
        return self.decoder(self.extract_feat(batch_inputs))

    # ----------------------------------------------------------- training
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of a batch (see :class:`SparseInstCriterion`)."""
        outputs = self._forward(batch_inputs)
        targets = self.mask_targets(batch_data_samples,
                                    outputs['pred_masks'].shape[-2:])
        return self.criterion(outputs, targets)

    def mask_targets(self, batch_data_samples: SampleList,
                     size: Tuple[int, int]) -> InstanceList:
        """Soft mask targets at the prediction resolution, rasterised once
        per iteration for both the matcher and the losses.

        The masks are zero-padded to the batch input size and resized
        bilinearly (align_corners=False, no antialiasing) to ``size``, which
        gives soft targets in [0, 1] (official).

        Args:
            batch_data_samples (list[:obj:`DetDataSample`]): With
                ``gt_instances`` (``labels``, ``masks``).
            size (tuple[int, int]): Resolution (h, w) of ``pred_masks``.

        Returns:
            list[:obj:`InstanceData`]: ``labels`` (G, ) and ``masks``
            (G, h, w) float per image.
        """
        targets = []
        for sample in batch_data_samples:
            gt = sample.gt_instances
            labels = gt.labels
            device = labels.device
            if len(gt) == 0:
                masks = torch.zeros((0, *size), device=device)
            else:
                bitmaps = rasterize_gt_masks(gt.masks,
                                             sample.batch_input_shape, device)
                masks = F.interpolate(
                    bitmaps[None].float(), size=size, mode='bilinear',
                    align_corners=False)[0]
            targets.append(InstanceData(labels=labels, masks=masks))
        return targets

    # ---------------------------------------------------------- inference
    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Instances of every image: ``scores``, ``labels``, ``bboxes`` and,
        with ``test_cfg.mask_output``, ``masks`` (:class:`RLEMasks`).

        Args:
            batch_inputs (Tensor): Images (B, 3, H, W).
            batch_data_samples (list[:obj:`DetDataSample`]): Their samples.
            rescale (bool): Results in the original image size, else in the
                resized input size (``img_shape``).

        Returns:
            list[:obj:`DetDataSample`]: With ``pred_instances``.
        """
        outputs = self._forward(batch_inputs)
        results = self.predict_by_feat(
            outputs, [s.metainfo for s in batch_data_samples], rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def predict_by_feat(self, outputs: Dict[str, Tensor],
                        batch_img_metas: List[dict],
                        rescale: bool = True) -> InstanceList:
        """Post-process decoder outputs image by image."""
        return [
            self._predict_single(logits, scores, masks, meta, rescale)
            for logits, scores, masks, meta in zip(
                outputs['pred_logits'], outputs['pred_scores'],
                outputs['pred_masks'], batch_img_metas)
        ]

    def _predict_single(self, cls_logits: Tensor, obj_logits: Tensor,
                        mask_logits: Tensor, img_meta: dict,
                        rescale: bool) -> InstanceData:
        """Instances of one image.

        Score of a query: sqrt(sigmoid(cls) * sigmoid(obj)) of its best
        class, times its mask's mean probability above ``mask_thr``
        ("maskness"). No NMS; the kept queries are sorted by score and at
        most ``max_per_img`` are returned.

        Args:
            cls_logits (Tensor): Class logits (N, K).
            obj_logits (Tensor): Objectness logits (N, 1).
            mask_logits (Tensor): Mask logits (N, h, w) of the padded input
                at stride 4.
            img_meta (dict): Meta information of the image.
            rescale (bool): Map to the original image size.

        Returns:
            :obj:`InstanceData`: ``scores`` (n, ), ``labels`` (n, ),
            ``bboxes`` (n, 4) and, with ``mask_output``, ``masks``
            (:class:`RLEMasks`, n masks of the output size). Every field is
            present when n = 0.
        """
        cfg = self.test_cfg
        scores = (cls_logits.float().sigmoid() *
                  obj_logits.float().sigmoid()).sqrt()
        scores, labels = scores.max(dim=-1)
        keep = scores > cfg.score_thr
        probs = mask_logits[keep].float().sigmoid()
        scores = scores[keep] * self.maskness(probs, cfg.mask_thr)
        order = scores.argsort(descending=True)[:cfg.max_per_img]
        scores, labels, probs = scores[order], labels[keep][order], \
            probs[order]
        results = InstanceData(scores=scores, labels=labels)
        if cfg.mask_output:
            masks = self.full_resolution_masks(probs, img_meta, rescale)
            results.bboxes = mask_boxes(masks)
            results.masks = encode_rle(masks)
        else:
            results.bboxes = self.stride4_boxes(probs > cfg.mask_thr,
                                                img_meta, rescale)
        return results

    @staticmethod
    def maskness(probs: Tensor, mask_thr: float) -> Tensor:
        """Mean probability of the pixels above ``mask_thr`` (0 for an empty
        mask), (n, ) of probabilities (n, h, w)."""
        fg = (probs > mask_thr).float()
        return (probs * fg).flatten(1).sum(-1) / \
            (fg.flatten(1).sum(-1) + 1e-6)

    def output_shape(self, img_meta: dict, rescale: bool) -> Tuple[int, int]:
        """(H, W) of the results: original or resized image size."""
        shape = img_meta['ori_shape'] if rescale else img_meta['img_shape']
        return tuple(shape[:2])

    def full_resolution_masks(self, probs: Tensor, img_meta: dict,
                              rescale: bool) -> Tensor:
        """Binary masks (n, H, W) of the output size from probabilities
        (n, h, w) at stride 4 (see :func:`full_resolution_masks`)."""
        return full_resolution_masks(
            probs, tuple(img_meta['batch_input_shape'][:2]),
            tuple(img_meta['img_shape'][:2]),
            self.output_shape(img_meta, rescale), self.test_cfg.mask_thr)

    def stride4_boxes(self, masks: Tensor, img_meta: dict,
                      rescale: bool) -> Tensor:
        """Boxes (n, 4) of binary stride-4 masks (n, h, w) in output pixels
        (see :func:`stride4_boxes`)."""
        return stride4_boxes(
            masks, tuple(img_meta['batch_input_shape'][:2]),
            tuple(img_meta['img_shape'][:2]),
            img_meta['scale_factor'] if rescale else None)
