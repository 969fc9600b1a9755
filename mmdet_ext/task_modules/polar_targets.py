"""Training targets of the polar heads: candidates, matching, rays, crops."""
from dataclasses import dataclass, replace
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor
from torch.profiler import record_function

from mmdet.registry import TASK_UTILS
from mmdet.utils import ConfigType
from mmdet_ext.geometry.hard_rasterizer import (boxes_to_grid, hard_rasterize,
                                               polygons_to_crop_masks)
from mmdet_ext.geometry.ray_origin import compute_ray_origins
from mmdet_ext.geometry.ray_targets import decode_rays
from mmdet_ext.geometry.soft_rasterizer import soft_rasterize
from mmdet_ext.structures.mask_tracing import gt_polygon_tensor
from mmdet_ext.structures.polygons import PolygonTensor
from mmdet_ext.utils.config_utils import check_choice
from .top_cost_matcher import TopCostMatcher

PART_CHOICES = ('all', 'largest')
COST_MASK_CHOICES = ('soft', 'hard')


@dataclass
class PositiveTargets:
    """Selected (point, object) pairs of a batch and their targets.

    Attributes:
        point_inds (Tensor): Flat point index of each positive (S, ).
        points (Tensor): Coordinates of each positive point (S, 2).
        gt_boxes (Tensor): Box of each positive's object, all parts (S, 4).
        pred_rays (Tensor): Predicted rays (S, K), with gradient.
        target_rays (Tensor): Ray targets (S, K).
        soft_masks (Tensor, optional): Soft-rasterised predictions
            (S, R, R), with gradient; None when masks are not built.
        target_masks (Tensor, optional): Binary target crops (S, R, R);
            None when masks are not built.
    """
    point_inds: Tensor
    points: Tensor
    gt_boxes: Tensor
    pred_rays: Tensor
    target_rays: Tensor
    soft_masks: Optional[Tensor] = None
    target_masks: Optional[Tensor] = None

    FIELDS = ('point_inds', 'points', 'gt_boxes', 'pred_rays', 'target_rays',
              'soft_masks', 'target_masks')

    def __len__(self) -> int:
        return len(self.point_inds)

    @classmethod
    def empty(cls, rays: Tensor,
              mask_size: Optional[int]) -> 'PositiveTargets':
        """No positives; ``pred_rays`` stays attached to ``rays``' graph.

        ``mask_size`` None leaves the mask fields None.
        """
        num_rays = rays.shape[-1]
        masks = (None if mask_size is None else rays.new_zeros(
            (0, mask_size, mask_size)))
        return cls(
            point_inds=rays.new_zeros((0, ), dtype=torch.long),
            points=rays.new_zeros((0, 2)),
            gt_boxes=rays.new_zeros((0, 4)),
            pred_rays=rays[:0],
            target_rays=rays.new_zeros((0, num_rays)),
            soft_masks=masks,
            target_masks=masks)

    @property
    def has_masks(self) -> bool:
        return self.soft_masks is not None

    def offset_points(self, offset: int) -> 'PositiveTargets':
        """Shift point indices, to index the points of a flattened batch."""
        return replace(self, point_inds=self.point_inds + offset)

    @classmethod
    def cat(cls, items: List['PositiveTargets']) -> 'PositiveTargets':
        """Concatenate the positives of several images."""
        columns = {}
        for name in cls.FIELDS:
            values = [getattr(item, name) for item in items]
            columns[name] = (None if any(v is None for v in values) else
                             torch.cat(values))
        return cls(**columns)

    def soft_iou(self, eps: float = 1e-6) -> Tensor:
        """Detached soft mask IoU sum(min) / sum(max) per positive (S, ),
        the quality target and loss weight of PolarNeXt."""
        if not self.has_masks:
            raise ValueError('soft_iou needs masks: build the targets with '
                             'with_masks=True')
        soft = self.soft_masks.detach().flatten(1).float()
        target = self.target_masks.flatten(1).float()
        inter = torch.minimum(soft, target).sum(-1)
        union = torch.maximum(soft, target).sum(-1).clamp(min=eps)
        return inter / union

    def polar_centerness(self) -> Tensor:
        """PolarMask's centerness target sqrt(min_k d_k / max_k d_k) of the
        target rays (S, ), in [0, 1]."""
        rays = self.target_rays.float()
        ratio = rays.min(dim=-1).values / rays.max(dim=-1).values.clamp(
            min=1e-12)
        return ratio.clamp(0, 1).sqrt()


def gt_polygons(gt_instances: InstanceData,
                device: torch.device) -> Tuple[PolygonTensor, Tensor]:
    """Valid GT polygons (all parts) and their labels.

    The ground truth goes through the one GT-to-polygon path,
    :func:`~mmdet_ext.structures.gt_polygon_tensor`: ``PolygonMasks``
    (``LoadAnnotations(poly2mask=False)``) are used as they are;
    ``BitmapMasks`` are traced along the pixel corners, holes joined to
    their outline, so the polygons cover exactly the bitmap's pixels.
    Objects without a usable part (degenerate, zero area, NaN) are dropped
    here; see :class:`PolygonTensor`.

    Returns:
        tuple: ``PolygonTensor`` of the N' valid objects and labels (N', ).
    """
    polygons = gt_polygon_tensor(gt_instances.masks, device=device)
    valid = polygons.valid
    labels = gt_instances.labels.to(device)
    return polygons[valid], labels[valid]


class PolarTargetBuilder:
    """Per-image training targets of the polar heads (PolarNeXt, PolarMask).

    Steps, per image:

    1. Ray origin per object (area centroid of the largest part, or a point
       inside the object).
    2. Candidates: points strictly inside ``origin +- radius * stride``
       intersected with the object box. With ``regress_ranges`` (FCOS,
       PolarMask) a point must also see the object box within its level's
       range: ``lo <= max(l, t, r, b) <= hi``; without (PolarNeXt) every level
       is a candidate. Objects with no candidate (smaller than the finest
       stride) can get the nearest point of the finest level instead of being
       silently dropped (``fallback_candidate``).
    3. Selection by the matcher. :class:`TopCostMatcher` (PolarNeXt) ranks
       the candidates by focal + polar IoU + Dice costs, which needs the ray
       targets and the soft-rasterised predictions of every candidate;
       :class:`MinAreaMatcher` (FCOS, PolarMask) keeps every candidate for
       its smallest object and needs neither.
    4. Ray targets (:class:`PolarRayCoder`) and, with ``with_masks`` or a
       prediction-based matcher, crop masks: crop box = box of the predicted
       polygon union the object box (detached); the predicted polygon is
       soft-rasterised in it and the target crop is rasterised from the GT
       polygons (``mask_target_parts``), without any full-resolution bitmap.

    The background label is ``num_classes``.

    Args:
        num_classes (int): Number of classes (the background index).
        num_rays (int): Rays per point.
        sampling_radius (float): Centre-sampling radius in strides.
        regress_ranges (Sequence[tuple[float, float]], optional): Range of
            the max box distance per level, from the finest stride up; None
            (default) puts no range on the candidates.
        mask_size (int): Side R of the mask crops. Defaults to 64.
        tau (float): Soft rasteriser smoothness. Defaults to 0.1.
        ray_origin (str): ``'int_centroid'`` (official: the area centroid
            truncated to int), ``'centroid'`` (sub-pixel), ``'inside'`` or
            ``'centroid_or_inside'`` (see :func:`compute_ray_origins`).
        ray_target_parts (str): Parts used for the ray targets, the origin
            and the centre-sampling box: ``'largest'`` (official) or
            ``'all'``.
        mask_target_parts (str): Parts rasterised into the target crops:
            ``'all'`` (default) or ``'largest'`` (official PolarNeXt).
        fallback_candidate (bool): Give candidate-less objects one point.
        with_masks (bool): Build the soft and target masks of the positives
            (needed by Dice losses and mask-IoU quality targets). They are
            always built for a prediction-based matcher.
        cost_mask (str): Mask of each candidate in the matching cost:
            ``'soft'`` (official: the soft rasterisation) or ``'hard'`` (its
            tau -> 0 limit, the exact inside test on the same grid). With
            tau = 0.1 the two differ only within about half a grid pixel of
            the boundary; ``'hard'`` skips the distance computation for all
            non-positive candidates (about 5x fewer soft rasterisations),
            which matters on CPU.
        ray_coder (:obj:`ConfigDict` or dict): Ray coder config.
        matcher (:obj:`ConfigDict` or dict): Matcher config. A
            :class:`TopCostMatcher`'s cost weights default to the loss
            weights (``cost_weights``) and its focal parameters to
            ``focal_alpha`` / ``focal_gamma``.
        cost_weights (tuple[float]): (cls, polar, dice) loss weights.
        focal_alpha (float): Alpha of the focal cost.
        focal_gamma (float): Gamma of the focal cost.
        chunk_size (int, optional): Polygons per rasteriser chunk.
    """

    def __init__(self,
                 num_classes: int,
                 num_rays: int = 36,
                 sampling_radius: float = 1.5,
                 regress_ranges: Optional[Sequence[Tuple[float,
                                                         float]]] = None,
                 mask_size: int = 64,
                 tau: float = 0.1,
                 ray_origin: str = 'centroid',
                 ray_target_parts: str = 'largest',
                 mask_target_parts: str = 'all',
                 fallback_candidate: bool = True,
                 with_masks: bool = True,
                 cost_mask: str = 'soft',
                 ray_coder: ConfigType = dict(
                     type='PolarRayCoder', mode='farthest', miss_value=0.01),
                 matcher: ConfigType = dict(type='TopCostMatcher'),
                 cost_weights: Tuple[float, float, float] = (1., 1., 1.),
                 focal_alpha: float = 0.25,
                 focal_gamma: float = 2.0,
                 chunk_size: Optional[int] = 500) -> None:
        check_choice('ray_target_parts', ray_target_parts, PART_CHOICES)
        check_choice('mask_target_parts', mask_target_parts, PART_CHOICES)
        check_choice('cost_mask', cost_mask, COST_MASK_CHOICES)
        self.cost_mask = cost_mask
        self.num_classes = num_classes
        self.num_rays = num_rays
        self.sampling_radius = sampling_radius
        self.regress_ranges = (None if regress_ranges is None else
                               [tuple(map(float, r)) for r in regress_ranges])
        self.mask_size = mask_size
        self.tau = tau
        self.ray_origin = ray_origin
        self.ray_target_parts = ray_target_parts
        self.mask_target_parts = mask_target_parts
        self.fallback_candidate = fallback_candidate
        self.chunk_size = chunk_size
        self.ray_coder = TASK_UTILS.build(
            dict(ray_coder, num_rays=num_rays))
        self.matcher = TASK_UTILS.build(
            self._matcher_cfg(matcher, cost_weights, focal_alpha,
                              focal_gamma))
        self.uses_predictions = getattr(self.matcher, 'uses_predictions',
                                        True)
        self.with_masks = with_masks or self.uses_predictions

    @staticmethod
    def _matcher_cfg(matcher: ConfigType, cost_weights: Tuple[float, ...],
                     alpha: float, gamma: float) -> dict:
        """Matcher config with the loss weights as default cost weights."""
        matcher = dict(matcher)
        if matcher.get('type') in ('TopCostMatcher', TopCostMatcher):
            for key, weight in zip(
                ('cls_weight', 'polar_weight', 'dice_weight'), cost_weights):
                matcher.setdefault(key, weight)
            matcher.setdefault('alpha', alpha)
            matcher.setdefault('gamma', gamma)
        return matcher

    # ------------------------------------------------------------ steps
    def _point_ranges(self, strides: Tensor) -> Tensor:
        """Regress range (lo, hi) of each point, from its stride (P, 2)."""
        levels = torch.unique(strides)  # sorted ascending
        if len(levels) > len(self.regress_ranges):
            raise ValueError(
                f'{len(levels)} levels but {len(self.regress_ranges)} '
                'regress ranges')
        table = strides.new_tensor(self.regress_ranges)
        return table[torch.searchsorted(levels, strides)]

    def candidates(self,
                   points: Tensor,
                   strides: Tensor,
                   origins: Tensor,
                   boxes: Tensor,
                   object_boxes: Optional[Tensor] = None
                   ) -> Tuple[Tensor, Tensor]:
        """Candidate pairs, object-major.

        Args:
            points (Tensor): Points (P, 2).
            strides (Tensor): Stride of each point (P, ).
            origins (Tensor): Ray origin of each object (N, 2).
            boxes (Tensor): Centre-sampling clip boxes (N, 4), x1 y1 x2 y2.
            object_boxes (Tensor, optional): Boxes (N, 4) of the regress
                range test; defaults to ``boxes``.

        Returns:
            tuple[Tensor, Tensor]: Point and object index of each pair.
        """
        radius = (strides * self.sampling_radius)[:, None]
        x0 = torch.maximum(origins[:, 0] - radius, boxes[:, 0])
        y0 = torch.maximum(origins[:, 1] - radius, boxes[:, 1])
        x1 = torch.minimum(origins[:, 0] + radius, boxes[:, 2])
        y1 = torch.minimum(origins[:, 1] + radius, boxes[:, 3])
        px, py = points[:, :1], points[:, 1:]
        inside = (px > x0) & (px < x1) & (py > y0) & (py < y1)  # (P, N)
        if self.regress_ranges is not None:
            inside &= self._in_regress_range(
                points, strides,
                boxes if object_boxes is None else object_boxes)
        if self.fallback_candidate:
            inside = self._add_fallback(inside, points, strides, origins)
        pair_gt, pair_point = inside.t().nonzero(as_tuple=True)
        return pair_point, pair_gt

    def _in_regress_range(self, points: Tensor, strides: Tensor,
                          boxes: Tensor) -> Tensor:
        """Whether max(l, t, r, b) of each (point, box) lies in the point's
        regress range (P, N)."""
        px, py = points[:, :1], points[:, 1:]
        ltrb = torch.stack([
            px - boxes[:, 0], py - boxes[:, 1], boxes[:, 2] - px,
            boxes[:, 3] - py
        ], -1)
        max_dist = ltrb.max(dim=-1).values
        ranges = self._point_ranges(strides)
        return (max_dist >= ranges[:, :1]) & (max_dist <= ranges[:, 1:])

    @staticmethod
    def _add_fallback(inside: Tensor, points: Tensor, strides: Tensor,
                      origins: Tensor) -> Tensor:
        """Mark the finest-level point nearest to the origin of every object
        that has no candidate."""
        lonely = ~inside.any(dim=0)
        if not lonely.any():
            return inside
        finest = strides == strides.min()
        finest_inds = finest.nonzero(as_tuple=True)[0]
        dist = torch.cdist(origins[lonely], points[finest_inds])
        nearest = finest_inds[dist.argmin(dim=1)]
        inside = inside.clone()
        inside[nearest, lonely.nonzero(as_tuple=True)[0]] = True
        return inside

    @staticmethod
    def crop_boxes(points: Tensor, rays: Tensor, gt_boxes: Tensor) -> Tensor:
        """Detached box of the predicted polygon union the object box, at
        least one pixel wide and high, (M, 4)."""
        vertices = decode_rays(points, rays.detach())
        boxes = torch.cat([
            torch.minimum(vertices.min(dim=1).values, gt_boxes[:, :2]),
            torch.maximum(vertices.max(dim=1).values, gt_boxes[:, 2:])
        ],
                          dim=1)
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        return boxes

    def _grid_vertices(self, points: Tensor, rays: Tensor,
                       boxes: Tensor) -> Tensor:
        """Predicted polygons in the R x R grid of their crops (M, K, 2)."""
        return boxes_to_grid(
            decode_rays(points, rays), boxes, self.mask_size)

    def soft_masks(self, points: Tensor, rays: Tensor,
                   boxes: Tensor) -> Tensor:
        """Soft-rasterised predicted polygons in their crops (M, R, R)."""
        with record_function('polar_targets/soft_masks'):
            return soft_rasterize(
                self._grid_vertices(points, rays, boxes),
                size=self.mask_size,
                tau=self.tau,
                chunk_size=self.chunk_size)

    def cost_masks(self, points: Tensor, rays: Tensor,
                   boxes: Tensor) -> Tensor:
        """Predicted masks used by the matching cost (M, R, R), detached."""
        if self.cost_mask == 'soft':
            return self.soft_masks(points, rays, boxes)
        with record_function('polar_targets/hard_cost_masks'):
            return hard_rasterize(
                self._grid_vertices(points, rays, boxes), self.mask_size)

    def target_crops(self, points: Tensor, rays: Tensor,
                     mask_polys: PolygonTensor,
                     pair_gt: Tensor) -> Tuple[Tensor, Tensor]:
        """Crop boxes (M, 4) and binary target crops (M, R, R) of pairs."""
        with record_function('polar_targets/target_crops'), torch.no_grad():
            boxes = self.crop_boxes(points, rays, mask_polys.bboxes()[pair_gt])
            edges, edge_valid = mask_polys.edges()
            target_masks = polygons_to_crop_masks(
                edges[pair_gt], edge_valid[pair_gt], boxes, self.mask_size)
        return boxes, target_masks

    @staticmethod
    def _parts(polygons: PolygonTensor, which: str) -> PolygonTensor:
        return polygons if which == 'all' else polygons.largest_part()

    # ------------------------------------------------------------ build
    def build(self, points: Tensor, strides: Tensor, cls_logits: Tensor,
              rays: Tensor, gt_instances: InstanceData
              ) -> Tuple[Tensor, PositiveTargets]:
        """Targets of one image.

        Args:
            points (Tensor): All points (P, 2).
            strides (Tensor): Stride of each point (P, ).
            cls_logits (Tensor): Detached class logits (P, num_classes).
            rays (Tensor): Predicted rays (P, K), with gradient.
            gt_instances (:obj:`InstanceData`): ``labels`` and ``masks``.

        Returns:
            tuple: Class targets (P, ) with ``num_classes`` as background,
            and the :class:`PositiveTargets` of this image.
        """
        # Profiler scopes (no cost unless profiling): the benchmark tools
        # read the steps of the very code that trains from key_averages().
        with record_function('polar_targets/build'):
            return self._build(points, strides, cls_logits, rays,
                               gt_instances)

    def _build(self, points: Tensor, strides: Tensor, cls_logits: Tensor,
               rays: Tensor, gt_instances: InstanceData
               ) -> Tuple[Tensor, PositiveTargets]:
        """:meth:`build` inside its profiler scope."""
        labels = points.new_full((len(points), ),
                                 self.num_classes,
                                 dtype=torch.long)
        empty = PositiveTargets.empty(
            rays, self.mask_size if self.with_masks else None)
        if len(gt_instances) == 0:
            return labels, empty
        with record_function('polar_targets/gt_polygons_and_origins'):
            polygons, gt_labels = gt_polygons(gt_instances, points.device)
            if len(polygons) == 0:
                return labels, empty
            ray_polys = self._parts(polygons, self.ray_target_parts)
            mask_polys = self._parts(polygons, self.mask_target_parts)
            object_boxes = polygons.bboxes()
            origins = compute_ray_origins(ray_polys, method=self.ray_origin)
        with record_function('polar_targets/candidates'):
            pair_point, pair_gt = self.candidates(points, strides, origins,
                                                  ray_polys.bboxes(),
                                                  object_boxes)
        if len(pair_point) == 0:
            return labels, empty
        if self.uses_predictions:
            pos_gt, pos = self._match_by_cost(points, cls_logits, rays,
                                              ray_polys, mask_polys,
                                              object_boxes, gt_labels,
                                              pair_point, pair_gt)
        else:
            pos_gt, pos = self._match_by_area(points, rays, ray_polys,
                                              mask_polys, object_boxes,
                                              pair_point, pair_gt)
        labels[pos.point_inds] = gt_labels[pos_gt]
        return labels, pos

    def _match_by_area(self, points: Tensor, rays: Tensor,
                       ray_polys: PolygonTensor, mask_polys: PolygonTensor,
                       object_boxes: Tensor, pair_point: Tensor,
                       pair_gt: Tensor) -> Tuple[Tensor, PositiveTargets]:
        """Smallest-object selection; targets of the selected pairs only."""
        with record_function('polar_targets/matcher'):
            wh = (object_boxes[:, 2:] - object_boxes[:, :2]).clamp(min=0)
            selected = self.matcher.select((wh[:, 0] * wh[:, 1])[pair_gt],
                                           pair_gt, pair_point)
        pos_point, pos_gt = pair_point[selected], pair_gt[selected]
        pos_rays = rays[pos_point]
        with record_function('polar_targets/ray_targets'):
            target_rays = self.ray_coder.encode(points[pos_point], ray_polys,
                                                pos_gt)
        soft = target_masks = None
        if self.with_masks:
            boxes, target_masks = self.target_crops(points[pos_point],
                                                    pos_rays, mask_polys,
                                                    pos_gt)
            soft = self.soft_masks(points[pos_point], pos_rays, boxes)
        return pos_gt, PositiveTargets(
            point_inds=pos_point,
            points=points[pos_point],
            gt_boxes=object_boxes[pos_gt],
            pred_rays=pos_rays,
            target_rays=target_rays,
            soft_masks=soft,
            target_masks=target_masks)

    def _match_by_cost(self, points: Tensor, cls_logits: Tensor,
                       rays: Tensor, ray_polys: PolygonTensor,
                       mask_polys: PolygonTensor, object_boxes: Tensor,
                       gt_labels: Tensor, pair_point: Tensor,
                       pair_gt: Tensor) -> Tuple[Tensor, PositiveTargets]:
        """Top-cost selection over all candidates (PolarNeXt)."""
        with record_function('polar_targets/ray_targets'):
            target_rays = self.ray_coder.encode(points[pair_point], ray_polys,
                                                pair_gt)
        pair_rays = rays[pair_point]
        boxes, target_masks = self.target_crops(points[pair_point],
                                                pair_rays, mask_polys,
                                                pair_gt)
        # With the soft cost, every candidate is soft-rasterised once, with
        # gradient: the matcher reads the masks detached and the positives
        # keep their rows (the rasteriser's backward skips the other rows)
        # instead of being rasterised a second time.
        soft = (
            self.soft_masks(points[pair_point], pair_rays, boxes)
            if self.cost_mask == 'soft' else None)
        with torch.no_grad():
            cost_masks = (
                soft.detach() if soft is not None else self.cost_masks(
                    points[pair_point], pair_rays.detach(), boxes))
            with record_function('polar_targets/matcher'):
                costs = self.matcher.pair_costs(
                    cls_logits[pair_point, gt_labels[pair_gt]], pair_rays,
                    target_rays, cost_masks, target_masks)
                selected = self.matcher.select(costs, pair_gt, pair_point)

        pos_point, pos_gt = pair_point[selected], pair_gt[selected]
        pos_rays = pair_rays[selected]
        return pos_gt, PositiveTargets(
            point_inds=pos_point,
            points=points[pos_point],
            gt_boxes=object_boxes[pos_gt],
            pred_rays=pos_rays,
            target_rays=target_rays[selected],
            soft_masks=soft[selected] if soft is not None else
            self.soft_masks(points[pos_point], pos_rays, boxes[selected]),
            target_masks=target_masks[selected])
