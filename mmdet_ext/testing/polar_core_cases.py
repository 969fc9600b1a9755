"""The cases of ``tools/analysis_tools/benchmark_polar_core.py``: the polar
geometry against its references, on synthetic data, with the agreement
checks of their outputs.

Each builder returns a :class:`CaseSet` (no-argument callables on
prepared inputs, and how to compare their outputs); the tool times them
and measures their peak memory. Three sets:

1. **Ray targets** of one image (:func:`ray_target_cases`): 50 objects x
   45 candidate points x 36 rays x 200-vertex polygons (random concave
   star polygons; the 45 points per object are the official candidates,
   :func:`candidate_points`). :func:`polar_ray_targets` (default slack, and
   ``edge_tol=0``, the official rule) against the official per-object loop
   with its dense (M, K, E, 4) tensors. Check: rays whose length differs
   from the float64 official ones by more than :data:`RAY_TOLERANCE`
   (float32 rounding decides rays that graze a vertex).
2. **Soft rasteriser** (:func:`soft_raster_cases`), forward + backward of
   2,000 polygons of 36 vertices at 64 x 64: :func:`soft_rasterize`
   against the dense autograd and the naive per-pixel references, which
   are too large or too slow for all polygons: they run on a subset and
   are extrapolated linearly (both are linear in the polygon count); the
   naive one, a Python loop, is meant to run once. Check: largest
   difference of the masks and vertex gradients from ours on that subset.
3. **Mask generation** for ``CocoMetric`` (:func:`mask_generation_cases`),
   100 polygons of 36 vertices at 800 x 1333, on the CPU:
   ``RLEMasks.from_polygons`` (RLE straight from the polygons) against the
   official recipe (:func:`official_bitmaps`, then
   ``encode_mask_results``). Check: mean IoU of both mask sets.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Set, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor

from mmdet.structures.mask import encode_mask_results
from mmdet_ext.geometry.ray_targets import polar_ray_targets
from mmdet_ext.geometry.soft_rasterizer import soft_rasterize
from mmdet_ext.structures.polygons import PolygonTensor
from mmdet_ext.structures.rle_masks import RLEMasks, paired_mask_ious
from .reference_raster import (dense_autograd_soft_rasterize,
                               naive_soft_rasterize)
from .reference_ray_targets import reference_polar_ray_targets
from .synthetic_polygons import (random_image_polygons, star_polygon,
                                 star_polygons)

# The official candidates: a 3 x 3 lattice around the centroid per level.
STRIDES = (8, 16, 32, 64, 128)
POINTS_PER_OBJECT = 9 * len(STRIDES)
IMAGE_SIZE = (800, 1333)  # (H, W)
# A ray is "off" if its length differs from the float64 official one by
# more than this, relative (absolute below length 1).
RAY_TOLERANCE = 1e-3


@dataclass
class Sizes:
    """Problem sizes of one benchmark run (defaults: the full run)."""
    num_objects: int = 50
    num_vertices: int = 200
    num_rays: int = 36
    num_polygons: int = 2000
    polygon_vertices: int = 36
    raster_size: int = 64
    dense_subset: int = 100
    naive_subset: int = 2
    num_masks: int = 100
    mask_vertices: int = 36
    mask_image: Tuple[int, int] = IMAGE_SIZE


# Tiny sizes for tests: seconds on one CPU thread.
QUICK_SIZES = Sizes(
    num_objects=6, num_vertices=48, num_polygons=48, polygon_vertices=12,
    raster_size=16, dense_subset=8, naive_subset=1, num_masks=20,
    mask_image=(160, 256))


@dataclass
class CaseSet:
    """Cases of one table and how to compare their outputs.

    Attributes:
        title (str): Table title (sizes and dtype).
        cases (dict[str, Callable[[], Any]]): Row name to a no-argument
            run; the name of our implementation ends with ``(ours)``.
        check (Callable[[dict[str, Any]], dict[str, str]]): From the
            outputs of the cases (by name) to the agreement cell of the
            rows that have one.
        device (torch.device): Where the cases run.
        scales (dict[str, float]): Factor from a case's run to the full
            size (linear extrapolation from a subset); 1 if absent.
        notes (dict[str, str]): How a row is obtained, if not measured.
        single_run (set[str]): Cases too slow to time more than once.
    """
    title: str
    cases: Dict[str, Callable[[], Any]]
    check: Callable[[Dict[str, Any]], Dict[str, str]]
    device: torch.device
    scales: Dict[str, float] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)
    single_run: Set[str] = field(default_factory=set)


# ------------------------------------------------------------ ray targets
def candidate_points(centroids: Tensor, boxes: Tensor) -> Tensor:
    """Official-style candidates: 3 x 3 lattice points per stride.

    For each stride s the lattice point (cell centre) nearest to the
    centroid and its 8 neighbours (spacing s), clipped to the object's
    box: :data:`POINTS_PER_OBJECT` (45) per object.

    Args:
        centroids (Tensor): (N, 2) object centroids (x, y).
        boxes (Tensor): (N, 4) object boxes (x1, y1, x2, y2).

    Returns:
        Tensor: (N * 45, 2) points (x, y), grouped by object.
    """
    offsets = torch.tensor([-1., 0., 1.], dtype=centroids.dtype)
    grid = torch.stack(torch.meshgrid(offsets, offsets, indexing='xy'),
                       -1).reshape(-1, 2)
    points = []
    for stride in STRIDES:
        anchor = (centroids / stride).floor() * stride + stride / 2
        points.append(anchor[:, None] + grid * stride)
    points = torch.cat(points, dim=1)  # (N, 45, 2)
    low, high = boxes[:, None, :2], boxes[:, None, 2:]
    return torch.maximum(torch.minimum(points, high), low).reshape(-1, 2)


def ray_target_inputs(sizes: Sizes, device: torch.device,
                      seed: int = 0) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """One synthetic image of star polygons and their candidate points.

    Args:
        sizes (Sizes): ``num_objects`` N and ``num_vertices`` E.
        device (torch.device): Device of the outputs.
        seed (int): Seed of the polygons.

    Returns:
        tuple[Tensor]: ``points`` (N * 45, 2), ``edges`` (N, E, 4),
        ``edge_valid`` (N, E) and ``obj_inds`` (N * 45, ), the arguments
        of :func:`polar_ray_targets`.
    """
    rng = np.random.default_rng(seed)
    height, width = IMAGE_SIZE
    objects = [[
        star_polygon(rng, sizes.num_vertices,
                     rng.uniform([100, 100], [width - 100, height - 100]),
                     rng.uniform(20, 300))
    ] for _ in range(sizes.num_objects)]
    polygons = PolygonTensor.from_polygon_masks(objects, dtype=torch.float32)
    points = candidate_points(polygons.area_centroid(), polygons.bboxes())
    obj_inds = torch.arange(sizes.num_objects).repeat_interleave(
        POINTS_PER_OBJECT)
    edges, edge_valid = polygons.edges()
    return (points.to(device), edges.to(device), edge_valid.to(device),
            obj_inds.to(device))


def count_off_rays(lengths: Tensor, truth: Tensor) -> str:
    """``'<off> / <total> rays off'``: rays farther than
    :data:`RAY_TOLERANCE` (relative, absolute below 1) from ``truth``.

    Args:
        lengths (Tensor): (M, K) ray lengths to check.
        truth (Tensor): (M, K) float64 reference lengths.

    Returns:
        str: The count, for a table cell.
    """
    off = (lengths.double() - truth).abs() > RAY_TOLERANCE * truth.abs(
    ).clamp(min=1)
    return f'{int(off.sum())} / {off.numel()} rays off'


def ray_target_cases(sizes: Sizes, device: torch.device) -> CaseSet:
    """Ours (default, and the official ``edge_tol=0``) against the official
    per-object loop, all checked against the official loop in float64.

    Args:
        sizes (Sizes): ``num_objects``, ``num_vertices`` and ``num_rays``.
        device (torch.device): Where the cases run.

    Returns:
        CaseSet: Each case returns the (N * 45, K) ray lengths; the check
        counts the rays off (:func:`count_off_rays`) of every case.
    """
    points, edges, edge_valid, obj_inds = ray_target_inputs(sizes, device)
    args = (points, edges, edge_valid, obj_inds, sizes.num_rays)
    cases = {
        'official loop (reference)':
        lambda: reference_polar_ray_targets(*args),
        'polar_ray_targets (ours)': lambda: polar_ray_targets(*args),
        'polar_ray_targets, edge_tol=0':
        lambda: polar_ray_targets(*args, edge_tol=0.0),
    }

    def check(outputs: Dict[str, Tensor]) -> Dict[str, str]:
        # Float64 official lengths as the yardstick of every float32 row.
        truth = reference_polar_ray_targets(points.double(), edges.double(),
                                            edge_valid, obj_inds,
                                            sizes.num_rays)
        return {name: count_off_rays(lengths, truth)
                for name, lengths in outputs.items()}

    title = (f'Ray targets: {sizes.num_objects} objects x '
             f'{POINTS_PER_OBJECT} points x {sizes.num_rays} rays x '
             f'{sizes.num_vertices}-vertex polygons, float32')
    return CaseSet(title, cases, check, device)


# --------------------------------------------------------- soft raster
def forward_backward(rasterize: Callable[..., Tensor], vertices: Tensor,
                     grad: Tensor, size: int,
                     tau: float = 0.1) -> Tuple[Tensor, Tensor]:
    """One forward and backward of a soft rasteriser.

    Args:
        rasterize (Callable): ``rasterize(vertices, size, tau)`` -> masks.
        vertices (Tensor): (N, V, 2) vertices in grid coordinates.
        grad (Tensor): (N, R, R) gradient of the masks.
        size (int): Grid size R.
        tau (float): Smoothness.

    Returns:
        tuple[Tensor, Tensor]: Masks (N, R, R) and vertex gradients
        (N, V, 2).
    """
    leaf = vertices.detach().requires_grad_(True)
    masks = rasterize(leaf, size, tau)
    masks.backward(grad)
    return masks.detach(), leaf.grad


def max_difference(ours: Tuple[Tensor, Tensor],
                   reference: Tuple[Tensor, Tensor]) -> float:
    """Largest difference of masks and gradients of :func:`forward_backward`
    on a reference's polygons, the first ones of ours."""
    count = len(reference[0])
    return max((mine[:count] - theirs).abs().max().item()
               for mine, theirs in zip(ours, reference))


def soft_raster_cases(sizes: Sizes, device: torch.device) -> CaseSet:
    """Ours against the dense autograd and naive per-pixel references, each
    on its subset of the polygons (extrapolated to all).

    Args:
        sizes (Sizes): ``num_polygons``, ``polygon_vertices``,
            ``raster_size`` and the references' ``dense_subset`` and
            ``naive_subset``.
        device (torch.device): Where the cases run.

    Returns:
        CaseSet: Each case returns :func:`forward_backward`'s masks and
        gradients; the check gives each reference's
        :func:`max_difference` from ours.
    """
    rng = np.random.default_rng(0)
    size, total = sizes.raster_size, sizes.num_polygons
    vertices = torch.as_tensor(
        star_polygons(rng, total, sizes.polygon_vertices,
                      rng.uniform(0.35 * size, 0.65 * size, (total, 2)),
                      rng.uniform(0.15, 0.5, total) * size),
        dtype=torch.float32, device=device)
    grad = torch.as_tensor(rng.standard_normal((total, size, size)),
                           dtype=torch.float32, device=device)
    ours, naive = 'soft_rasterize (ours)', 'naive per-pixel reference'
    subsets = {
        ours: (soft_rasterize, total),
        'dense autograd reference': (dense_autograd_soft_rasterize,
                                     min(sizes.dense_subset, total)),
        naive: (naive_soft_rasterize, min(sizes.naive_subset, total)),
    }
    cases = {
        name: lambda fn=fn, n=n: forward_backward(fn, vertices[:n], grad[:n],
                                                  size)
        for name, (fn, n) in subsets.items()
    }
    # Polygon count of each reference's subset.
    references = {
        name: count
        for name, (_, count) in subsets.items() if name != ours
    }

    def check(outputs: Dict[str, Tuple[Tensor, Tensor]]) -> Dict[str, str]:
        return {name: f'{max_difference(outputs[ours], outputs[name]):.2g} '
                'max |diff|' for name in references}

    title = (f'Soft rasteriser forward + backward: {total} polygons x '
             f'{sizes.polygon_vertices} vertices at {size} x {size}, tau '
             '0.1, float32')
    return CaseSet(
        title, cases, check, device,
        scales={name: total / count for name, count in references.items()},
        notes={
            name: f'extrapolated x{total / count:g} from {count}'
            for name, count in references.items()
        },
        single_run={naive})


# ------------------------------------------------------ mask generation
def official_bitmaps(polygons: Tensor, height: int, width: int) -> Tensor:
    """The official ``mask2result``: per instance an (H, W) uint8 canvas
    with a ``cv2.drawContours`` of the ``.int()`` vertices, copied into a
    float32 CPU stack.

    Args:
        polygons (Tensor): (N, V, 2) vertices (x, y) in pixels.
        height (int): Image height H.
        width (int): Image width W.

    Returns:
        Tensor: (N, H, W) float32 masks of 0 and 1.
    """
    masks = torch.zeros((len(polygons), height, width), dtype=torch.float32)
    for i, polygon in enumerate(polygons.int().cpu().numpy()):
        canvas = np.zeros((height, width), dtype=np.uint8)
        cv2.drawContours(canvas, [polygon], -1, 1, thickness=-1)
        masks[i] = torch.from_numpy(canvas)
    return masks


def mask_generation_cases(sizes: Sizes) -> CaseSet:
    """RLE straight from the polygons against the official bitmaps +
    ``encode_mask_results``; both are CPU work (pycocotools, cv2) whatever
    the model's device, so the set runs on the CPU.

    Args:
        sizes (Sizes): ``num_masks``, ``mask_vertices`` and ``mask_image``.

    Returns:
        CaseSet: Each case returns a list of N COCO RLEs; the check gives
        the official row their mean IoU with ours
        (:func:`~mmdet_ext.structures.rle_masks.paired_mask_ious`).
    """
    height, width = sizes.mask_image
    polygons = random_image_polygons(
        np.random.default_rng(0), sizes.num_masks, sizes.mask_vertices,
        sizes.mask_image)
    ours = 'RLEMasks.from_polygons (ours)'
    official = 'official: cv2 bitmaps + encode_mask_results'
    cases = {
        ours:
        lambda: [dict(m) for m in RLEMasks.from_polygons(
            polygons, height, width)],
        official:
        lambda: encode_mask_results(
            official_bitmaps(polygons, height, width).numpy()),
    }

    def check(outputs: Dict[str, List[dict]]) -> Dict[str, str]:
        iou = paired_mask_ious(outputs[ours], outputs[official])
        return {official: f'{iou.mean():.3f} mean IoU'}

    title = (f'Mask generation for CocoMetric: {sizes.num_masks} polygons '
             f'x {sizes.mask_vertices} vertices at {height} x {width} (CPU)')
    return CaseSet(title, cases, check, torch.device('cpu'))
