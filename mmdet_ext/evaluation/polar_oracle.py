"""Upper bound of the polar mask representation on a COCO annotation file
(the core of ``tools/analysis_tools/polar_oracle.py``).

For every non-crowd ground-truth object the tool builds the "perfect" polar
prediction: the ray origin of the object (see
:func:`mmdet_ext.geometry.compute_ray_origins`), the K ray lengths from it
(:func:`mmdet_ext.geometry.polar_ray_targets`) against the parts used for
the rays (the largest part, as PolarNeXt / PolarMask do, or all parts),
decoded back into a K-gon, rasterised to a full-image RLE with pycocotools
and given score 1.0. These predictions are scored with pycocotools'
``COCOeval`` (``iouType='segm'``) against the *full* annotation file (all
parts, crowd regions as ignore regions), and the mask IoU of each oracle
mask with its own ground-truth mask is reported as well.

Objects that cannot be represented are counted, not hidden:

- crowd annotations are skipped (COCOeval ignores them);
- RLE annotations of non-crowd objects are turned into polygons as the
  training loader does (``RLEToPolygons``: pixel-exact outer outlines,
  :func:`mmdet_ext.structures.gt_polygon_tensor`); empty masks count as
  ``rle_without_contour``;
- objects without a valid polygon part after sanitisation (too few
  vertices, zero area, ...; see ``PolygonTensor``) get no prediction and
  count as ``invalid`` (IoU 0 in ``mean_iou_all``);
- annotations that pycocotools itself cannot rasterise (no segmentation,
  or no polygon part of at least 3 points) would crash ``COCOeval``; they
  are removed from the evaluated ground truth and counted as
  ``unevaluable`` (polygon parts under 3 points, which pycocotools may
  misread as boxes, are dropped and counted).

The geometry is batched over the objects of groups of images; only the
pycocotools calls run per image.
"""
import contextlib
import io
import time
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from pycocotools.coco import COCO

from mmdet_ext.geometry.hard_rasterizer import vertices_to_rle
from mmdet_ext.geometry.polygon_ops import points_in_polygons
from mmdet_ext.geometry.ray_origin import ORIGIN_METHODS, compute_ray_origins
from mmdet_ext.geometry.ray_targets import RAY_MODES
from mmdet_ext.structures.mask_tracing import gt_polygon_tensor
from mmdet_ext.structures.polygons import PolygonTensor
from mmdet_ext.structures.rle_masks import paired_mask_ious
from mmdet_ext.task_modules.polar_ray_coder import PolarRayCoder
from mmdet_ext.utils.config_utils import check_choice
from .coco_segm_eval import load_coco, segm_metrics

PART_CHOICES = ('largest', 'all')
# run_oracle's defaults: the official PolarMask / PolarNeXt representation.
DEFAULT_SETTINGS = dict(num_rays=36, center='centroid', mode='farthest',
                        parts='largest')
# COCO's object size ranges (areas in pixels), as in COCOeval.
SMALL_AREA, MEDIUM_AREA = 32**2, 96**2
# Objects per geometry batch: bounds the padded (N, V) polygon tensors.
DEFAULT_GROUP_SIZE = 512


def _usable_part(part) -> bool:
    """A polygon part pycocotools rasterises as a polygon (>= 3 points)."""
    return isinstance(part, (list, tuple)) and len(part) >= 6 \
        and len(part) % 2 == 0


def clean_ground_truth(coco: COCO, counts: Counter) -> None:
    """Make the annotations safe for pycocotools' segm evaluation.

    Drops polygon parts of fewer than 3 points (pycocotools reads a
    4-number part as a box and fails on shorter ones) and removes the
    annotations left without any segmentation from the index, in memory.

    Args:
        coco (COCO): The loaded annotation file, changed in place.
        counts (Counter): Bookkeeping counters, updated in place.
    """
    kept = []
    for ann in coco.dataset.get('annotations', []):
        segm = ann.get('segmentation')
        if isinstance(segm, list):
            parts = [part for part in segm if _usable_part(part)]
            counts['gt_parts_dropped'] += len(segm) - len(parts)
            ann['segmentation'] = parts
            segm = parts or None
        if not segm or not isinstance(segm, (list, dict)):
            counts['unevaluable'] += 1
            continue
        kept.append(ann)
    if len(kept) < len(coco.dataset.get('annotations', [])):
        coco.dataset['annotations'] = kept
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()


class _Object:
    """One non-crowd ground-truth object waiting for its oracle mask."""

    __slots__ = ('ann', 'rle', 'iou')

    def __init__(self, ann: dict) -> None:
        self.ann = ann
        self.rle: Optional[dict] = None
        self.iou = 0.0


def _image_groups(coco: COCO, group_size: int,
                  counts: Counter) -> Iterator[List[Tuple[dict, list]]]:
    """Yield groups of (image info, its non-crowd objects).

    Args:
        coco (COCO): The loaded annotation file.
        group_size (int): Approximate number of objects per group.
        counts (Counter): Bookkeeping counters, updated in place.

    Yields:
        list[tuple[dict, list[_Object]]]: A group of whole images.
    """
    group, size = [], 0
    for img_id in sorted(coco.getImgIds()):
        objects = []
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[img_id])):
            if ann.get('iscrowd', 0):
                counts['crowd'] += 1
                continue
            counts['rle_converted'] += isinstance(ann['segmentation'], dict)
            objects.append(_Object(ann))
        group.append((coco.imgs[img_id], objects))
        size += len(objects)
        if size >= group_size:
            yield group
            group, size = [], 0
    if group:
        yield group


def polar_head_settings(model_cfg: Optional[dict]) -> Optional[dict]:
    """The polar representation a config's polar head learns.

    Args:
        model_cfg (dict, optional): ``cfg.model``.

    Returns:
        dict | None: ``num_rays``, ``center``, ``mode`` and ``parts`` (as
        :func:`run_oracle` takes them) of the ``bbox_head`` or ``mask_head``
        that has ``num_rays``, ``DEFAULT_SETTINGS`` where the head leaves
        one unset; None for a model without a polar head.
    """
    heads = [(model_cfg or {}).get(key) or {}
             for key in ('bbox_head', 'mask_head')]
    head = next((head for head in heads if 'num_rays' in head), None)
    if head is None:
        return None
    builder = head.get('target_builder') or {}
    coder = builder.get('ray_coder') or {}
    found = dict(num_rays=head.get('num_rays'),
                 center=builder.get('ray_origin'), mode=coder.get('mode'),
                 parts=builder.get('ray_target_parts'))
    return {key: default if found[key] is None else found[key]
            for key, default in DEFAULT_SETTINGS.items()}


def polar_rays(polygons: PolygonTensor, num_rays: int = 36,
               center: str = 'centroid', mode: str = 'farthest',
               parts: str = 'largest'
               ) -> Tuple[torch.Tensor, torch.Tensor, PolygonTensor]:
    """Ray origins and ray end points of N objects, as a polar head's
    targets encode them.

    Args:
        polygons (PolygonTensor): The objects' polygons (all parts).
        num_rays (int): K.
        center (str): Ray origin method, one of ``ORIGIN_METHODS``.
        mode (str): 'farthest' (official) or 'nearest' crossing.
        parts (str): 'largest' (official) or 'all' parts for the rays; the
            centroid is always that of the largest part (official).

    Returns:
        tuple: ``origins`` (N, 2), ``ends`` (N, K, 2) (the ray targets
        decoded back to points: the oracle K-gon) and the polygons the rays
        were cast against.
    """
    ray_polygons = polygons.largest_part() if parts == 'largest' \
        else polygons
    origins = compute_ray_origins(ray_polygons, method=center)
    coder = PolarRayCoder(num_rays, mode)
    ends = coder.decode(origins, coder.encode(origins, ray_polygons.edges()))
    return origins, ends, ray_polygons


def oracle_vertices(segmentations: Sequence,
                    num_rays: int = 36,
                    center: str = 'centroid',
                    mode: str = 'farthest',
                    parts: str = 'largest',
                    device: str = 'cpu',
                    dtype: torch.dtype = torch.float64
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Oracle K-gons of N objects, batched.

    Args:
        segmentations (Sequence): Per object, its COCO segmentation: flat
            polygon parts, or an RLE dict (traced, see
            :func:`~mmdet_ext.structures.mask_tracing.instance_polygons`).
        num_rays, center, mode, parts: See :func:`polar_rays`.
        device (str): Device of the geometry.
        dtype (torch.dtype): Float dtype of the geometry.

    Returns:
        tuple: ``vertices`` (N, K, 2) float64, ``valid`` (N,) bool,
        ``inside`` (N,) bool (origin inside the parts used for the rays)
        and the sanitisation counters of ``PolygonTensor``.
    """
    polygons = gt_polygon_tensor(segmentations, device, dtype)
    origins, vertices, ray_polygons = polar_rays(polygons, num_rays, center,
                                                 mode, parts)
    obj_inds = torch.arange(len(polygons), device=polygons.device)
    inside = points_in_polygons(origins, *ray_polygons.edges(), obj_inds)
    return (vertices.cpu().double().numpy(),
            ray_polygons.valid.cpu().numpy(), inside.cpu().numpy(),
            dict(ray_polygons.dropped))


def _score_group(coco: COCO, group: List[Tuple[dict, list]],
                 vertices: np.ndarray, valid: np.ndarray) -> None:
    """Rasterise the oracle K-gons of a group and their IoU with the GT."""
    start = 0
    for img, objects in group:
        stop = start + len(objects)
        keep = np.flatnonzero(valid[start:stop])
        rles = vertices_to_rle(vertices[start:stop][keep], img['height'],
                               img['width']) if len(keep) else []
        chosen = [objects[i] for i in keep]
        gts = [coco.annToRLE(obj.ann) for obj in chosen]
        for obj, rle, iou in zip(chosen, rles, paired_mask_ious(rles, gts)):
            obj.rle, obj.iou = rle, float(iou)
        start = stop


def _iou_summary(objects: List[_Object]) -> Dict[str, float]:
    """Mean IoU over predicted objects, over all objects, per size."""
    predicted = [obj for obj in objects if obj.rle is not None]
    summary = {
        'mean_iou': _mean([obj.iou for obj in predicted]),
        'mean_iou_all': _mean([obj.iou for obj in objects]),
    }
    for name, low, high in (('small', 0, SMALL_AREA),
                            ('medium', SMALL_AREA, MEDIUM_AREA),
                            ('large', MEDIUM_AREA, float('inf'))):
        summary[f'mean_iou_{name}'] = _mean([
            obj.iou for obj in predicted
            if low <= obj.ann.get('area', 0) < high
        ])
    return summary


def _mean(values: Sequence[float]) -> float:
    """Mean, or NaN for an empty sequence (printed as 'n/a')."""
    return float(np.mean(values)) if len(values) else float('nan')


def run_oracle(ann_file: str,
               num_rays: int = 36,
               center: str = 'centroid',
               mode: str = 'farthest',
               parts: str = 'largest',
               device: str = 'cpu',
               dtype: torch.dtype = torch.float64,
               max_dets: int = 100,
               group_size: int = DEFAULT_GROUP_SIZE) -> dict:
    """Score the oracle polar masks of a COCO annotation file.

    Args:
        ann_file (str): COCO-format instance annotation file (any classes).
        num_rays (int): Rays per object K.
        center (str): 'centroid' (official), 'inside' or
            'centroid_or_inside'.
        mode (str): 'farthest' (official) or 'nearest'.
        parts (str): 'largest' (official) or 'all' polygon parts for the
            rays (see :func:`oracle_vertices`); the evaluation always uses
            the full annotation.
        device (str): Device of the geometry.
        dtype (torch.dtype): Float dtype of the geometry (float64 by
            default: the oracle should not depend on rounding).
        max_dets (int): COCOeval's largest maxDets (100 is standard).
        group_size (int): Objects per geometry batch (about).

    Returns:
        dict: The settings, ``SEGM_METRICS`` (COCOeval segm, in [0, 1]),
        mean IoUs (``mean_iou`` over predicted objects, ``mean_iou_all``
        with missing predictions as 0, and per COCO size range), object
        counts, the fraction of origins inside the parts used for the
        rays and runtimes in seconds.
    """
    check_choice('center', center, ORIGIN_METHODS)
    check_choice('mode', mode, RAY_MODES)
    check_choice('parts', parts, PART_CHOICES)
    start = time.perf_counter()
    coco = load_coco(ann_file)
    counts: Counter = Counter()
    clean_ground_truth(coco, counts)
    dropped: Counter = Counter()
    objects: List[_Object] = []
    geometry_time, num_inside = 0.0, 0
    for group in _image_groups(coco, group_size, counts):
        group_objects = [obj for _, objs in group for obj in objs]
        if not group_objects:
            continue
        tic = time.perf_counter()
        vertices, valid, inside, group_dropped = oracle_vertices(
            [obj.ann['segmentation'] for obj in group_objects], num_rays,
            center, mode, parts, device, dtype)
        geometry_time += time.perf_counter() - tic
        # A traced RLE is invalid only when its mask is empty.
        counts['rle_without_contour'] += sum(
            isinstance(obj.ann['segmentation'], dict) and not ok
            for obj, ok in zip(group_objects, valid))
        num_inside += int((inside & valid).sum())
        dropped.update(group_dropped)
        _score_group(coco, group, vertices, valid)
        objects.extend(group_objects)
    results = [{
        'image_id': obj.ann['image_id'],
        'category_id': obj.ann['category_id'],
        'segmentation': obj.rle,
        'score': 1.0
    } for obj in objects if obj.rle is not None]
    tic = time.perf_counter()
    metrics = segm_metrics(coco, results, max_dets)
    eval_time = time.perf_counter() - tic
    num_predicted = len(results)
    return {
        'ann_file': str(ann_file),
        'num_rays': num_rays,
        'center': center,
        'mode': mode,
        'parts': parts,
        **metrics,
        **_iou_summary(objects),
        'num_images': len(coco.getImgIds()),
        'num_objects': len(objects),
        'num_predicted': num_predicted,
        'num_invalid': len(objects) - num_predicted,
        'num_crowd': counts['crowd'],
        'num_rle_converted': counts['rle_converted'],
        'num_rle_without_contour': counts['rle_without_contour'],
        'num_unevaluable': counts['unevaluable'],
        'num_gt_parts_dropped': counts['gt_parts_dropped'],
        'dropped_parts': {k: int(v) for k, v in dropped.items() if v},
        'origin_inside_fraction':
        num_inside / num_predicted if num_predicted else float('nan'),
        'time_geometry_s': geometry_time,
        'time_eval_s': eval_time,
        'time_total_s': time.perf_counter() - start,
    }
