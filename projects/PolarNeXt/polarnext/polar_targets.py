"""Training targets of PolarNeXt: candidates, rays, mask crops and matching."""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.registry import TASK_UTILS
from mmdet.structures.mask import BitmapMasks, bitmap_to_polygon
from mmdet.utils import ConfigType
from mmdet_ext.geometry.hard_rasterizer import (boxes_to_grid, hard_rasterize,
                                               polygons_to_crop_masks)
from mmdet_ext.geometry.ray_origin import compute_ray_origins
from mmdet_ext.geometry.ray_targets import decode_rays
from mmdet_ext.geometry.soft_rasterizer import soft_rasterize
from mmdet_ext.structures.polygons import PolygonTensor

PART_CHOICES = ('all', 'largest')
COST_MASK_CHOICES = ('soft', 'hard')


@dataclass
class PositiveTargets:
    """Selected (point, object) pairs of a batch and their targets.

    Attributes:
        point_inds (Tensor): Flat point index of each positive (S, ).
        pred_rays (Tensor): Predicted rays (S, K), with gradient.
        target_rays (Tensor): Ray targets (S, K).
        soft_masks (Tensor): Soft-rasterised predictions (S, R, R), with
            gradient.
        target_masks (Tensor): Binary target crops (S, R, R).
    """
    point_inds: Tensor
    pred_rays: Tensor
    target_rays: Tensor
    soft_masks: Tensor
    target_masks: Tensor

    def __len__(self) -> int:
        return len(self.point_inds)

    @classmethod
    def empty(cls, rays: Tensor, mask_size: int) -> 'PositiveTargets':
        """No positives; ``pred_rays`` stays attached to ``rays``' graph."""
        num_rays = rays.shape[-1]
        return cls(
            point_inds=rays.new_zeros((0, ), dtype=torch.long),
            pred_rays=rays[:0],
            target_rays=rays.new_zeros((0, num_rays)),
            soft_masks=rays.new_zeros((0, mask_size, mask_size)),
            target_masks=rays.new_zeros((0, mask_size, mask_size)))

    def offset_points(self, offset: int) -> 'PositiveTargets':
        """Shift point indices, to index the points of a flattened batch."""
        return PositiveTargets(self.point_inds + offset, self.pred_rays,
                               self.target_rays, self.soft_masks,
                               self.target_masks)

    @classmethod
    def cat(cls, items: List['PositiveTargets']) -> 'PositiveTargets':
        return cls(*(torch.cat([getattr(item, name) for item in items])
                     for name in ('point_inds', 'pred_rays', 'target_rays',
                                  'soft_masks', 'target_masks')))

    def soft_iou(self, eps: float = 1e-6) -> Tensor:
        """Detached soft mask IoU sum(min) / sum(max) per positive (S, ),
        the quality target and loss weight of PolarNeXt."""
        soft = self.soft_masks.detach().flatten(1).float()
        target = self.target_masks.flatten(1).float()
        inter = torch.minimum(soft, target).sum(-1)
        union = torch.maximum(soft, target).sum(-1).clamp(min=eps)
        return inter / union


def gt_polygons(gt_instances: InstanceData,
                device: torch.device) -> Tuple[PolygonTensor, Tensor]:
    """Valid GT polygons (all parts) and their labels.

    ``PolygonMasks`` (``LoadAnnotations(poly2mask=False)``) are used as they
    are; ``BitmapMasks`` are traced into polygons (outer and hole contours,
    which the even-odd rule handles). Objects without a usable part
    (degenerate, zero area, NaN) are dropped here; see
    :class:`PolygonTensor`.

    Returns:
        tuple: ``PolygonTensor`` of the N' valid objects and labels (N', ).
    """
    masks = gt_instances.masks
    if isinstance(masks, BitmapMasks):
        masks = [[contour.reshape(-1) for contour in bitmap_to_polygon(m)[0]]
                 for m in masks.masks]
    polygons = PolygonTensor.from_polygon_masks(masks, device=device)
    valid = polygons.valid
    labels = gt_instances.labels.to(device)
    return polygons[valid], labels[valid]


class PolarTargetBuilder:
    """Builds PolarNeXt's per-image training targets.

    Steps, per image (official semantics unless stated):

    1. Ray origin per object (area centroid of the largest part, or a point
       inside the object).
    2. Candidates: points strictly inside ``origin +- radius * stride``
       intersected with the object box, on every level. Objects with no
       candidate (smaller than the finest stride) get the nearest point of
       the finest level instead of being silently dropped
       (``fallback_candidate``).
    3. Ray targets of each candidate (:class:`PolarRayCoder`).
    4. Crop box = box of the predicted polygon union the object box
       (detached); the predicted polygon is soft-rasterised in it and the
       target crop is rasterised from the GT polygons (``mask_target_parts``:
       ``'all'`` parts, or the official ``'largest'``), without any
       full-resolution bitmap.
    5. Top-cost matching (:class:`TopCostMatcher`); background label is
       ``num_classes``.

    Args:
        num_classes (int): Number of classes (the background index).
        num_rays (int): Rays per point.
        sampling_radius (float): Centre-sampling radius in strides.
        mask_size (int): Side R of the mask crops. Defaults to 64.
        tau (float): Soft rasteriser smoothness. Defaults to 0.1.
        ray_origin (str): ``'centroid'`` (official), ``'inside'`` or
            ``'centroid_or_inside'``.
        ray_target_parts (str): Parts used for the ray targets and the
            candidate box: ``'largest'`` (official) or ``'all'``.
        mask_target_parts (str): Parts rasterised into the target crops:
            ``'all'`` (default) or ``'largest'`` (official).
        fallback_candidate (bool): Give candidate-less objects one point.
        cost_mask (str): Mask of each candidate in the matching cost:
            ``'soft'`` (official: the soft rasterisation) or ``'hard'`` (its
            tau -> 0 limit, the exact inside test on the same grid). With
            tau = 0.1 the two differ only within about half a grid pixel of
            the boundary; ``'hard'`` skips the distance computation for all
            non-positive candidates (about 5x fewer soft rasterisations),
            which matters on CPU.
        ray_coder (:obj:`ConfigDict` or dict): Ray coder config.
        matcher (:obj:`ConfigDict` or dict): Matcher config; its cost
            weights default to the loss weights (``cost_weights``).
        cost_weights (tuple[float]): (cls, polar, dice) loss weights.
        focal_alpha (float): Alpha of the focal cost.
        focal_gamma (float): Gamma of the focal cost.
        chunk_size (int, optional): Polygons per rasteriser chunk.
    """

    def __init__(self,
                 num_classes: int,
                 num_rays: int = 36,
                 sampling_radius: float = 1.5,
                 mask_size: int = 64,
                 tau: float = 0.1,
                 ray_origin: str = 'centroid',
                 ray_target_parts: str = 'largest',
                 mask_target_parts: str = 'all',
                 fallback_candidate: bool = True,
                 cost_mask: str = 'soft',
                 ray_coder: ConfigType = dict(
                     type='PolarRayCoder', mode='farthest', miss_value=0.01),
                 matcher: ConfigType = dict(type='TopCostMatcher'),
                 cost_weights: Tuple[float, float, float] = (1., 1., 1.),
                 focal_alpha: float = 0.25,
                 focal_gamma: float = 2.0,
                 chunk_size: Optional[int] = 500) -> None:
        for name, value in (('ray_target_parts', ray_target_parts),
                            ('mask_target_parts', mask_target_parts)):
            if value not in PART_CHOICES:
                raise ValueError(
                    f'{name} must be one of {PART_CHOICES}, got {value!r}')
        if cost_mask not in COST_MASK_CHOICES:
            raise ValueError(f'cost_mask must be one of {COST_MASK_CHOICES}, '
                             f'got {cost_mask!r}')
        self.cost_mask = cost_mask
        self.num_classes = num_classes
        self.num_rays = num_rays
        self.sampling_radius = sampling_radius
        self.mask_size = mask_size
        self.tau = tau
        self.ray_origin = ray_origin
        self.ray_target_parts = ray_target_parts
        self.mask_target_parts = mask_target_parts
        self.fallback_candidate = fallback_candidate
        self.chunk_size = chunk_size
        self.ray_coder = TASK_UTILS.build(
            dict(ray_coder, num_rays=num_rays))
        matcher = dict(matcher)
        for key, weight in zip(('cls_weight', 'polar_weight', 'dice_weight'),
                               cost_weights):
            matcher.setdefault(key, weight)
        matcher.setdefault('alpha', focal_alpha)
        matcher.setdefault('gamma', focal_gamma)
        self.matcher = TASK_UTILS.build(matcher)

    # ------------------------------------------------------------ steps
    def candidates(self, points: Tensor, strides: Tensor, origins: Tensor,
                   boxes: Tensor) -> Tuple[Tensor, Tensor]:
        """Centre-sampling candidate pairs, object-major.

        Args:
            points (Tensor): Points (P, 2).
            strides (Tensor): Stride of each point (P, ).
            origins (Tensor): Ray origin of each object (N, 2).
            boxes (Tensor): Object boxes (N, 4), x1 y1 x2 y2.

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
        if self.fallback_candidate:
            inside = self._add_fallback(inside, points, strides, origins)
        pair_gt, pair_point = inside.t().nonzero(as_tuple=True)
        return pair_point, pair_gt

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
        return hard_rasterize(
            self._grid_vertices(points, rays, boxes), self.mask_size)

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
        labels = points.new_full((len(points), ),
                                 self.num_classes,
                                 dtype=torch.long)
        empty = PositiveTargets.empty(rays, self.mask_size)
        if len(gt_instances) == 0:
            return labels, empty
        polygons, gt_labels = gt_polygons(gt_instances, points.device)
        if len(polygons) == 0:
            return labels, empty
        ray_polys = self._parts(polygons, self.ray_target_parts)
        mask_polys = self._parts(polygons, self.mask_target_parts)
        origins = compute_ray_origins(ray_polys, method=self.ray_origin)
        pair_point, pair_gt = self.candidates(points, strides, origins,
                                              ray_polys.bboxes())
        if len(pair_point) == 0:
            return labels, empty

        target_rays = self.ray_coder.encode(points[pair_point], ray_polys,
                                            pair_gt)
        pair_rays = rays[pair_point]
        with torch.no_grad():
            boxes = self.crop_boxes(points[pair_point], pair_rays,
                                    mask_polys.bboxes()[pair_gt])
            edges, edge_valid = mask_polys.edges()
            target_masks = polygons_to_crop_masks(
                edges[pair_gt], edge_valid[pair_gt], boxes, self.mask_size)
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
            costs = self.matcher.pair_costs(
                cls_logits[pair_point, gt_labels[pair_gt]], pair_rays,
                target_rays, cost_masks, target_masks)
            selected = self.matcher.select(costs, pair_gt, pair_point)

        pos_points = pair_point[selected]
        labels[pos_points] = gt_labels[pair_gt[selected]]
        pos_rays = pair_rays[selected]
        return labels, PositiveTargets(
            point_inds=pos_points,
            pred_rays=pos_rays,
            target_rays=target_rays[selected],
            soft_masks=soft[selected] if soft is not None else
            self.soft_masks(points[pos_points], pos_rays, boxes[selected]),
            target_masks=target_masks[selected])
