"""Tensor-only inference graphs of the detectors, for ONNX export.

``torch.onnx.export`` cannot take a detector as it is: ``predict`` takes and
returns ``DetDataSample`` / ``InstanceData``, loops over images in Python and
ends in pycocotools. An export wrapper holds the detector and runs, on tensors
only, everything up to the instances: the data preprocessor (channel order,
normalisation, padding), backbone, neck, head, score threshold and top-k,
ray decoding and, optionally, class-aware NMS. What is left outside the graph
(rescaling to the original image, NMS when not in the graph, RLE masks) is in
:mod:`mmdet_ext.deployment.postprocess`.

A model plugs in by registering a wrapper for its head class (or a base class
of it) with :func:`register_export_wrapper`; :func:`build_export_wrapper`
picks the wrapper of a detector's head. PolarNeXt and PolarMask are
registered here; an NMS-free model (e.g. SparseInst, whose masks come out of
the graph) registers a wrapper with its own :attr:`output_names`.
"""
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple, Type)

import torch
import torch.nn as nn
from torch import Tensor
# Imported with this module, not when first called: the ONNX exporter looks up
# its translation of torchvision::nms when the export starts, before tracing.
from torchvision.ops import nms

from mmdet_ext.geometry.ray_targets import ray_directions

#: Head class name -> export wrapper class (:func:`register_export_wrapper`).
EXPORT_WRAPPERS: Dict[str, Type['DetectorExportWrapper']] = {}

#: Outputs of the polar graphs, in order.
POLAR_OUTPUTS = ('boxes', 'scores', 'labels', 'polygons', 'origins')


def register_export_wrapper(
        *head_types: str
) -> Callable[[Type['DetectorExportWrapper']], Type['DetectorExportWrapper']]:
    """Class decorator: export detectors whose head (or, for models without
    a head, the detector itself) is one of ``head_types`` (class names;
    subclasses match too) with the decorated wrapper."""

    def register(cls: Type['DetectorExportWrapper']
                 ) -> Type['DetectorExportWrapper']:
        for name in head_types:
            if name in EXPORT_WRAPPERS:
                raise KeyError(f'an export wrapper for {name} is already '
                               f'registered: {EXPORT_WRAPPERS[name]}')
            EXPORT_WRAPPERS[name] = cls
        return cls

    return register


def export_head(detector: nn.Module) -> nn.Module:
    """The head that turns features into instances (``bbox_head``, else
    ``mask_head`` / ``decode_head`` for models that name it so)."""
    for name in ('bbox_head', 'mask_head', 'decode_head'):
        head = getattr(detector, name, None)
        if head is not None:
            return head
    raise ValueError(f'{type(detector).__name__} has no bbox_head, mask_head '
                     'or decode_head: not a single-stage model this exporter '
                     'knows')


def wrapper_class(detector: nn.Module) -> Type['DetectorExportWrapper']:
    """The registered wrapper of the detector (searched along its class
    hierarchy: models without a head, e.g. SparseInst, register the detector
    class), else of its head (along the head's class hierarchy)."""
    for cls in type(detector).__mro__:
        if cls.__name__ in EXPORT_WRAPPERS:
            return EXPORT_WRAPPERS[cls.__name__]
    head = export_head(detector)
    for cls in type(head).__mro__:
        if cls.__name__ in EXPORT_WRAPPERS:
            return EXPORT_WRAPPERS[cls.__name__]
    raise ValueError(
        f'no ONNX export wrapper for {type(head).__name__}; exportable models: '
        f'{", ".join(sorted(EXPORT_WRAPPERS))} (register one with '
        'mmdet_ext.deployment.register_export_wrapper)')


def build_export_wrapper(detector: nn.Module,
                         with_nms: bool = False) -> 'DetectorExportWrapper':
    """Wrap a detector (in eval mode) for export.

    Args:
        detector (nn.Module): An MMDetection detector.
        with_nms (bool): Put NMS and ``max_per_img`` into the graph.

    Returns:
        DetectorExportWrapper: The wrapper, in eval mode.
    """
    return wrapper_class(detector)(detector, with_nms=with_nms).eval()


class DetectorExportWrapper(nn.Module):
    """Base of the export wrappers: the detector's data preprocessing as
    tensor ops.

    The graph input is what the test pipeline of the config yields for one
    image (after ``Resize``, before the data preprocessor): pixel values in
    [0, 255] in the loader's channel order (BGR for ``LoadImageFromFile``),
    shape (1, 3, H, W), float32. Channel flip, normalisation and padding to
    ``pad_size_divisor`` happen in the graph, exactly as
    ``DetDataPreprocessor`` does them.

    Args:
        detector (nn.Module): The detector; its ``data_preprocessor`` must
            be an ``ImgDataPreprocessor`` (e.g. ``DetDataPreprocessor``)
            without batch augments at test time.
        with_nms (bool): Put NMS into the graph (models that run NMS).
    """

    #: Names of the graph outputs, in the order :meth:`forward` returns them.
    output_names: Tuple[str, ...] = ()
    #: Whether the model has an NMS step (``with_nms`` is ignored if not).
    uses_nms: bool = True

    def __init__(self, detector: nn.Module, with_nms: bool = False) -> None:
        super().__init__()
        self.detector = detector
        self.with_nms = bool(with_nms) and self.uses_nms
        preprocessor = detector.data_preprocessor
        if not hasattr(preprocessor, 'pad_size_divisor'):
            raise ValueError(
                f'{type(preprocessor).__name__} is not an image data '
                'preprocessor (DetDataPreprocessor): cannot export its '
                'preprocessing')
        self.bgr_to_rgb = bool(getattr(preprocessor, '_channel_conversion',
                                       False))
        self.normalize = bool(getattr(preprocessor, '_enable_normalize',
                                      False))
        self.pad_size_divisor = int(preprocessor.pad_size_divisor)
        self.pad_value = float(preprocessor.pad_value)
        if self.normalize:
            self.register_buffer('mean', preprocessor.mean.detach().clone(),
                                 persistent=False)
            self.register_buffer('std', preprocessor.std.detach().clone(),
                                 persistent=False)

    def preprocess(self, image: Tensor) -> Tensor:
        """``DetDataPreprocessor`` on a batch of one image.

        Args:
            image (Tensor): (1, 3, H, W) pixel values in the loader's channel
                order.

        Returns:
            Tensor: (1, 3, H_pad, W_pad) network input, H_pad and W_pad the
            next multiples of ``pad_size_divisor``.
        """
        # Static dimensions only: no guard on the dynamic height and width.
        if image.dim() != 4 or tuple(image.shape[:2]) != (1, 3):
            raise ValueError('expected one image (1, 3, H, W), got shape '
                             f'{tuple(image.shape)}')
        x = image.float()
        if self.bgr_to_rgb:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)
        divisor = self.pad_size_divisor
        if divisor > 1:
            height, width = x.shape[-2:]
            pad_h = (divisor - height % divisor) % divisor
            pad_w = (divisor - width % divisor) % divisor
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h),
                                  value=self.pad_value)
        return x

    def metadata(self) -> Dict[str, object]:
        """What the runtime needs to finish the job outside the graph
        (stored in the ONNX file by
        :func:`~mmdet_ext.deployment.onnx_export.export_onnx`)."""
        return dict(
            wrapper=type(self).__name__,
            outputs=list(self.output_names),
            with_nms=self.with_nms)


# ---------------------------------------------------------------------------
# Polar heads
# ---------------------------------------------------------------------------
class Candidates(NamedTuple):
    """Detections of one image before NMS, as flat rows.

    Attributes:
        scores (Tensor): Final scores (n, ).
        labels (Tensor): Class indices (n, ), int64.
        points (Tensor): Ray origins in the input image (n, 2).
        rays (Tensor): Ray lengths in input pixels (n, K).
        boxes (Tensor, optional): Boxes (n, 4) in the input image for NMS
            and the ``boxes`` output; None: the boxes of the polygons.
    """
    scores: Tensor
    labels: Tensor
    points: Tensor
    rays: Tensor
    boxes: Optional[Tensor] = None


def top_rows(ranking: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` highest values (all of them when there are fewer,
    or when ``k <= 0``), in decreasing order.

    ``torch.sym_min`` keeps ``k`` symbolic under a dynamic input size instead
    of baking in the comparison with the size of the export example.

    Args:
        ranking (Tensor): (n, ) values.
        k (int): How many to keep.

    Returns:
        Tensor: (min(k, n), ) int64 indices.
    """
    num = ranking.shape[0]
    num_top = torch.sym_min(k, num) if k > 0 else num
    return ranking.topk(num_top).indices


def decode_polygons(points: Tensor, rays: Tensor, height, width) -> Tensor:
    """Polygon vertices p + d_k * u_k clipped to [0, W] x [0, H], as
    :func:`~mmdet_ext.geometry.ray_targets.decode_rays` (which takes a static
    image shape; here H and W may be symbolic sizes of the graph input).

    Args:
        points (Tensor): Ray origins (n, 2).
        rays (Tensor): Ray lengths (n, K).
        height (int | SymInt): Image height.
        width (int | SymInt): Image width.

    Returns:
        Tensor: Vertices (n, K, 2).
    """
    directions = ray_directions(rays.shape[-1], rays.device, rays.dtype)
    vertices = points.unsqueeze(-2) + rays.unsqueeze(-1) * directions
    return torch.stack([
        vertices[..., 0].clamp(0, width), vertices[..., 1].clamp(0, height)
    ], dim=-1)


def polygon_boxes(polygons: Tensor) -> Tensor:
    """Boxes (n, 4) x1y1x2y2 of polygons (n, K, 2)."""
    return torch.cat([polygons.amin(dim=1), polygons.amax(dim=1)], dim=1)


def class_aware_nms(boxes: Tensor, scores: Tensor, labels: Tensor,
                    iou_threshold: float) -> Tensor:
    """NMS within each class, as ``mmcv.ops.batched_nms`` does it below its
    ``split_thr`` (10000 boxes): each class is shifted by its own offset so
    that boxes of different classes never overlap. ``torchvision.ops.nms``
    exports as ONNX ``NonMaxSuppression``.

    Args:
        boxes (Tensor): (n, 4) x1y1x2y2, non-negative.
        scores (Tensor): (n, ).
        labels (Tensor): (n, ) class indices.
        iou_threshold (float): Boxes overlapping a kept box of higher score
            by more than this are dropped.

    Returns:
        Tensor: Kept indices (m, ), by decreasing score.
    """
    # max over an extra 0: defined for an image without candidates too.
    max_coordinate = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = labels.to(boxes) * (max_coordinate + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


class PolarExportWrapper(DetectorExportWrapper):
    """Export wrapper of the polar heads: instances as polygons of rays.

    Outputs (``n`` candidates, or at most ``max_per_img`` detections by
    decreasing score with ``with_nms``), all in the coordinates of the graph
    input (rescale them by the image's scale factor outside):

    - ``boxes`` (n, 4) float32: the boxes NMS uses (the polygon boxes, or a
      box branch's);
    - ``scores`` (n, ) float32;
    - ``labels`` (n, ) int64;
    - ``polygons`` (n, K, 2) float32, clipped to the image;
    - ``origins`` (n, 2) float32: the ray origins.

    Subclasses implement :meth:`candidates` from the head outputs as the
    head's ``predict_by_feat`` selects them.
    """

    output_names = POLAR_OUTPUTS

    def __init__(self, detector: nn.Module, with_nms: bool = False) -> None:
        super().__init__(detector, with_nms)
        self.head = export_head(detector)
        self.test_cfg = dict(self.head.test_cfg or {})
        if self.with_nms:
            self.iou_threshold = nms_iou_threshold(self.test_cfg)
            self.max_per_img = int(self.test_cfg.get('max_per_img', 100))

    def forward(self, image: Tensor) -> Tuple[Tensor, ...]:
        """Instances of one image.

        Args:
            image (Tensor): (1, 3, H, W) pixel values (see
                :class:`DetectorExportWrapper`).

        Returns:
            tuple[Tensor]: ``boxes``, ``scores``, ``labels``, ``polygons``,
            ``origins`` (see the class docstring).
        """
        height, width = image.shape[-2:]
        feats = self.detector.extract_feat(self.preprocess(image))
        candidates = self.candidates(self.head(feats), height, width)
        polygons = decode_polygons(candidates.points, candidates.rays,
                                   height, width)
        boxes = (polygon_boxes(polygons)
                 if candidates.boxes is None else candidates.boxes)
        outputs = (boxes, candidates.scores, candidates.labels, polygons,
                   candidates.points)
        if self.with_nms:
            keep = class_aware_nms(boxes, candidates.scores,
                                   candidates.labels, self.iou_threshold)
            keep = keep[:self.max_per_img]
            outputs = tuple(output[keep] for output in outputs)
        return outputs

    def candidates(self, head_outputs: Tuple[List[Tensor], ...], height,
                   width) -> Candidates:
        """Scored detections before NMS from the per-level head outputs of a
        batch of one image."""
        raise NotImplementedError

    def level_points(self, cls_scores: Sequence[Tensor]) -> List[Tensor]:
        """Location of every cell of every level (H_l * W_l, 2), as the head
        computes them."""
        return self.head.prior_generator.grid_priors(
            [s.shape[-2:] for s in cls_scores],
            dtype=torch.float32,
            device=cls_scores[0].device)

    def metadata(self) -> Dict[str, object]:
        meta = super().metadata()
        meta.update(num_rays=int(self.head.num_rays),
                    num_classes=int(self.head.num_classes),
                    test_cfg=jsonable(self.test_cfg))
        return meta


def nms_iou_threshold(test_cfg: dict) -> float:
    """IoU threshold of a plain ``nms`` test config (the only NMS the graph
    has); other NMS types need ``with_nms=False`` (NMS outside the graph)."""
    nms_cfg = test_cfg.get('nms', None)
    if nms_cfg is None:
        raise ValueError('test_cfg.nms is not set: nothing to put into the '
                         'graph (export without NMS)')
    nms_type = nms_cfg.get('type', 'nms')
    if nms_type != 'nms' or nms_cfg.get('class_agnostic', False):
        raise ValueError(
            f'only class-aware test_cfg.nms.type="nms" goes into the graph, '
            f'got {dict(nms_cfg)}; export without NMS to run it outside')
    return float(nms_cfg['iou_threshold'])


def jsonable(value):
    """Config values as plain JSON types (ConfigDict -> dict, tuple ->
    list)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def image_rows(level_outputs: Sequence[Tensor], channels: int) -> Tensor:
    """(1, C, H_l, W_l) -> (H_l * W_l, C), rows in the order of the points."""
    return level_outputs[0].permute(1, 2, 0).reshape(-1, channels)


@register_export_wrapper('PolarNeXtHead')
class PolarNeXtExportWrapper(PolarExportWrapper):
    """PolarNeXt: per level the top ``nms_pre`` (location, class) pairs above
    ``score_thr``, score ``sigmoid(cls) * sigmoid(quality)``, NMS on the
    polygon boxes (:meth:`PolarNeXtHead.predict_by_feat`)."""

    def candidates(self, head_outputs: Tuple[List[Tensor], ...], height,
                   width) -> Candidates:
        rows = self.selected_rows(*head_outputs)
        return Candidates(rows['cls'] * rows['quality'], rows['labels'],
                          rows['points'], rows['rays'])

    def selected_rows(self, cls_scores: List[Tensor],
                      ray_preds: List[Tensor],
                      quality_preds: List[Tensor]) -> Dict[str, Tensor]:
        """The (location, class) rows of all levels that the head's
        ``_select_rows`` keeps: ``cls`` and ``quality`` (sigmoids, (n, )),
        ``labels`` (n, ), ``points`` (n, 2) and ``rays`` (n, K)."""
        num_classes, num_rays = self.head.num_classes, self.head.num_rays
        nms_pre = int(self.test_cfg.get('nms_pre', 1000))
        columns = dict(cls=[], quality=[], labels=[], points=[], rays=[])
        for cls, rays, quality, points in zip(cls_scores, ray_preds,
                                              quality_preds,
                                              self.level_points(cls_scores)):
            # mmdet's filter_scores_and_topk thresholds, then keeps the top
            # nms_pre; the top nms_pre, then the threshold, keeps the same
            # pairs with a static-size top-k (the threshold is applied once,
            # after the levels are joined).
            scores = cls[0].permute(1, 2, 0).reshape(-1).sigmoid()
            top = top_rows(scores, nms_pre)
            rows = torch.div(top, num_classes, rounding_mode='floor')
            quality = quality.reshape(-1).sigmoid()[rows]
            columns['cls'].append(scores[top])
            columns['quality'].append(quality)
            columns['labels'].append(top % num_classes)
            columns['points'].append(points[rows])
            columns['rays'].append(image_rows(rays, num_rays)[rows])
        joined = {key: torch.cat(value) for key, value in columns.items()}
        keep = joined['cls'] > float(self.test_cfg.get('score_thr', 0.05))
        return {key: value[keep] for key, value in joined.items()}


@register_export_wrapper('PolarMaskHead')
class PolarMaskExportWrapper(PolarExportWrapper):
    """PolarMask: per level the top ``nms_pre`` locations by
    ``max_c(cls * centerness)``, then every (location, class) with
    ``cls > score_thr``, score ``cls * (centerness + quality_offset)``, NMS
    on the box-branch boxes unless ``mask_nms`` (or without a box branch)
    (:meth:`PolarMaskHead.predict_by_feat`)."""

    def candidates(self, head_outputs: Tuple[List[Tensor], ...], height,
                   width) -> Candidates:
        cls_scores, bbox_preds, ray_preds, quality_preds = head_outputs
        num_classes, num_rays = self.head.num_classes, self.head.num_rays
        nms_pre = int(self.test_cfg.get('nms_pre', -1))
        use_boxes = (self.head.with_box_branch
                     and not self.test_cfg.get('mask_nms', False))
        columns = dict(scores=[], quality=[], points=[], rays=[], boxes=[])
        for level, points in enumerate(self.level_points(cls_scores)):
            scores = image_rows(cls_scores[level], num_classes).sigmoid()
            quality = quality_preds[level].reshape(-1).sigmoid()
            # All rows when nms_pre covers the level: the head keeps them in
            # grid order, this in ranking order; the kept set is the same.
            top = top_rows((scores * quality[:, None]).amax(1), nms_pre)
            columns['scores'].append(scores[top])
            columns['quality'].append(quality[top])
            columns['points'].append(points[top])
            columns['rays'].append(image_rows(ray_preds[level], num_rays)[top])
            if use_boxes:
                columns['boxes'].append(image_rows(bbox_preds[level], 4)[top])
        joined = {key: torch.cat(value) for key, value in columns.items()
                  if value}
        rows, labels = (joined['scores'] > float(
            self.test_cfg.get('score_thr', 0.05))).nonzero(as_tuple=True)
        scores = joined['scores'][rows, labels] * (
            joined['quality'][rows] +
            float(self.test_cfg.get('quality_offset', 0.5)))
        points = joined['points'][rows]
        boxes = None
        if use_boxes:
            boxes = distance_boxes(points, joined['boxes'][rows], height,
                                   width)
        return Candidates(scores, labels, points, joined['rays'][rows], boxes)


def distance_boxes(points: Tensor, distances: Tensor, height,
                   width) -> Tensor:
    """Boxes (n, 4) from (left, top, right, bottom) distances clipped to the
    image, as ``mmdet.structures.bbox.distance2bbox`` with ``max_shape``
    (whose in-place clamp takes static sizes only).

    Args:
        points (Tensor): (n, 2).
        distances (Tensor): (n, 4).
        height (int | SymInt): Image height.
        width (int | SymInt): Image width.
    """
    x1 = (points[:, 0] - distances[:, 0]).clamp(0, width)
    y1 = (points[:, 1] - distances[:, 1]).clamp(0, height)
    x2 = (points[:, 0] + distances[:, 2]).clamp(0, width)
    y2 = (points[:, 1] + distances[:, 3]).clamp(0, height)
    return torch.stack([x1, y1, x2, y2], dim=-1)
