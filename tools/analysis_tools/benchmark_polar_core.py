"""Speed and memory of the polar geometry against its references, in one run.

Three tables; every ratio comes from timings and memory peaks of the same
run (medians of ``--repeats`` after a warm-up, round-robin so that
background load hits all cases alike; peak memory is the extra memory of a
case, see ``_benchmark.peak_memory_bytes``):

1. **Ray targets** of one image: 50 objects x 45 candidate points x 36
   rays x 200-vertex polygons (random concave star polygons; the 45 points
   per object are the official candidates, a 3 x 3 lattice around the
   centroid on each stride 8 ... 128, clipped to the object's box).
   :func:`polar_ray_targets` (default slack and ``edge_tol=0``, the
   official rule) against the official per-object loop with its dense
   (M, K, E, 4) tensors. ``check``: rays whose length differs from the
   float64 official ones by more than 0.1 % (float32 rounding decides rays
   that graze a vertex).
2. **Soft rasteriser**, forward + backward of 2,000 polygons of 36
   vertices at 64 x 64: :func:`soft_rasterize` against the dense autograd
   and the naive per-pixel references, which are too large or too slow for
   all polygons: they run on a subset and are extrapolated linearly (both
   are linear in the polygon count). ``check``: largest difference of the
   masks and vertex gradients from ours on that subset.
3. **Mask generation** for ``CocoMetric``, 100 polygons of 36 vertices at
   800 x 1333: ``RLEMasks.from_polygons`` (RLE straight from the polygons)
   against the official recipe (a ``cv2.drawContours`` of the ``.int()``
   polygon per instance on a full-size canvas, a float32 (N, H, W) stack,
   then ``encode_mask_results``). ``check``: mean IoU of both mask sets.

Example::

    python tools/analysis_tools/benchmark_polar_core.py --threads 1
    python tools/analysis_tools/benchmark_polar_core.py --quick
"""
import argparse
import os.path as osp
import statistics
import sys
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _benchmark  # noqa: E402  (timing, memory, tables)
import _bootstrap  # noqa: E402,F401  (repo on sys.path)

from mmdet.structures.mask import encode_mask_results  # noqa: E402
from mmdet_ext.geometry.ray_targets import polar_ray_targets  # noqa: E402
from mmdet_ext.geometry.soft_rasterizer import soft_rasterize  # noqa: E402
from mmdet_ext.structures.polygons import PolygonTensor  # noqa: E402
from mmdet_ext.structures.rle_masks import RLEMasks  # noqa: E402
from mmdet_ext.testing import (dense_autograd_soft_rasterize,  # noqa: E402
                               naive_soft_rasterize, random_image_polygons,
                               reference_polar_ray_targets, star_polygon,
                               star_polygons)

# Official candidate points: a 3 x 3 lattice around the centroid per level.
STRIDES = (8, 16, 32, 64, 128)
IMAGE_SIZE = (800, 1333)  # (H, W)
# A ray is "off" if its length differs from the float64 official one by
# more than this, relative (absolute below length 1).
RAY_TOLERANCE = 1e-3
# Goals of the issues: ray targets against the official loop; mask
# generation time and its saving against the official route.
RAY_SPEEDUP_GOAL = 5.0
MASK_TIME_GOAL_MS = 5.0
MASK_SPEEDUP_GOAL = 10.0


@dataclass
class Sizes:
    """Problem sizes of one benchmark run."""
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


QUICK_SIZES = Sizes(
    num_objects=6, num_vertices=48, num_polygons=48, polygon_vertices=12,
    raster_size=16, dense_subset=8, naive_subset=1, num_masks=20,
    mask_image=(160, 256))


@dataclass
class Measurement:
    """Time and memory of one case, possibly extrapolated.

    Attributes:
        name (str): Row label.
        times (list[float]): Seconds per run.
        peak (int, optional): Extra bytes at the peak, None if unknown.
        scale (float): Factor applied to time and memory (linear
            extrapolation from a subset); 1 if measured at full size.
        note (str): How the row was obtained.
        check (str): Agreement with the reference (table-specific).
    """
    name: str
    times: List[float]
    peak: Optional[int]
    scale: float = 1.0
    note: str = 'measured'
    check: str = ''

    @property
    def ms(self) -> float:
        """Median time in ms, extrapolated."""
        return 1000 * statistics.median(self.times) * self.scale

    @property
    def mb(self) -> Optional[float]:
        """Peak extra memory in MB, extrapolated (None if unknown)."""
        return None if self.peak is None else self.peak * self.scale / 2**20


def measure(cases: Dict[str, Callable[[], object]], repeats: int,
            device: torch.device) -> Dict[str, Measurement]:
    """Time the cases round-robin (one warm-up round) and measure the
    peak memory of each alone."""
    timings = _benchmark.time_round_robin(cases, repeats, 1, device)
    return {
        name: Measurement(name, timings.samples[name],
                          _benchmark.peak_memory_bytes(fn, device))
        for name, fn in cases.items()
    }


# ------------------------------------------------------------ test data
def candidate_points(centroids: Tensor, boxes: Tensor) -> Tensor:
    """Official-style candidates: 3 x 3 lattice points per stride.

    For each stride s the lattice point nearest to the centroid and its 8
    neighbours (spacing s), clipped to the object's box: 45 per object.

    Args:
        centroids (Tensor): (N, 2).
        boxes (Tensor): (N, 4).

    Returns:
        Tensor: (N * 9 * len(STRIDES), 2), grouped by object.
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
    """Points, edges, edge_valid and obj_inds of one synthetic image."""
    rng = np.random.default_rng(seed)
    height, width = IMAGE_SIZE
    objects = [[
        star_polygon(rng, sizes.num_vertices,
                     rng.uniform([100, 100], [width - 100, height - 100]),
                     rng.uniform(20, 300))
    ] for _ in range(sizes.num_objects)]
    polygons = PolygonTensor.from_polygon_masks(objects, dtype=torch.float32)
    points = candidate_points(polygons.area_centroid(), polygons.bboxes())
    per_object = points.shape[0] // sizes.num_objects
    obj_inds = torch.arange(sizes.num_objects).repeat_interleave(per_object)
    edges, edge_valid = polygons.edges()
    return (points.to(device), edges.to(device), edge_valid.to(device),
            obj_inds.to(device))


# ----------------------------------------------------------- benchmarks
def bench_ray_targets(sizes: Sizes, repeats: int,
                      device: torch.device) -> List[Measurement]:
    """Table 1: ours (default, official tolerance) vs the official loop."""
    points, edges, edge_valid, obj_inds = ray_target_inputs(sizes, device)
    args = (points, edges, edge_valid, obj_inds, sizes.num_rays)
    cases = {
        'official loop (reference)':
        lambda: reference_polar_ray_targets(*args),
        'polar_ray_targets (ours)': lambda: polar_ray_targets(*args),
        'polar_ray_targets, edge_tol=0':
        lambda: polar_ray_targets(*args, edge_tol=0.0),
    }
    rows = measure(cases, repeats, device)
    # Float64 official lengths as the yardstick of every float32 row.
    truth = reference_polar_ray_targets(points.double(), edges.double(),
                                        edge_valid, obj_inds,
                                        sizes.num_rays)
    for name, fn in cases.items():
        off = (fn().double() - truth).abs() > RAY_TOLERANCE * truth.abs(
        ).clamp(min=1)
        rows[name].check = f'{int(off.sum())} / {off.numel()} rays off'
    return list(rows.values())


def _forward_backward(rasterize: Callable[..., Tensor], vertices: Tensor,
                      grad: Tensor, size: int) -> Tuple[Tensor, Tensor]:
    """One forward + backward; returns the masks and vertex gradients."""
    leaf = vertices.detach().requires_grad_(True)
    masks = rasterize(leaf, size, 0.1)
    masks.backward(grad)
    return masks.detach(), leaf.grad


def bench_soft_raster(sizes: Sizes, repeats: int,
                      device: torch.device) -> List[Measurement]:
    """Table 2: ours vs the dense autograd and naive references."""
    rng = np.random.default_rng(0)
    size, total = sizes.raster_size, sizes.num_polygons
    vertices = torch.as_tensor(
        star_polygons(rng, total, sizes.polygon_vertices,
                      rng.uniform(0.35 * size, 0.65 * size, (total, 2)),
                      rng.uniform(0.15, 0.5, total) * size),
        dtype=torch.float32, device=device)
    grad = torch.as_tensor(rng.standard_normal((total, size, size)),
                           dtype=torch.float32, device=device)
    subsets = {
        'soft_rasterize (ours)': (soft_rasterize, total),
        'dense autograd reference': (dense_autograd_soft_rasterize,
                                     min(sizes.dense_subset, total)),
        'naive per-pixel reference': (naive_soft_rasterize,
                                      min(sizes.naive_subset, total)),
    }
    cases = {
        name: lambda fn=fn, n=n: _forward_backward(fn, vertices[:n],
                                                   grad[:n], size)
        for name, (fn, n) in subsets.items()
    }
    naive = 'naive per-pixel reference'  # a Python loop: one timed run
    rows = measure({k: v for k, v in cases.items() if k != naive}, repeats,
                   device)
    rows.update(measure({naive: cases[naive]}, 1, device))
    ours_masks, ours_grad = cases['soft_rasterize (ours)']()
    for name, (_, count) in list(subsets.items())[1:]:
        masks, grads = cases[name]()
        rows[name].scale = total / count
        rows[name].note = f'extrapolated x{total / count:g} from {count}'
        rows[name].check = '{:.2g} max |diff|'.format(
            max((ours_masks[:count] - masks).abs().max().item(),
                (ours_grad[:count] - grads).abs().max().item()))
    return list(rows.values())


def official_bitmaps(polygons: Tensor, height: int, width: int) -> Tensor:
    """The official ``mask2result``: per instance, an (H, W) uint8 canvas,
    ``cv2.drawContours`` of the ``.int()`` vertices, copied into a float32
    (N, H, W) CPU tensor."""
    masks = torch.zeros((len(polygons), height, width), dtype=torch.float32)
    for i, polygon in enumerate(polygons.int().cpu().numpy()):
        canvas = np.zeros((height, width), dtype=np.uint8)
        cv2.drawContours(canvas, [polygon], -1, 1, thickness=-1)
        masks[i] = torch.from_numpy(canvas)
    return masks


def mask_iou(ours: List[dict], official: List[dict]) -> np.ndarray:
    """IoU of each of our RLE masks with the matching official one (N, )."""
    return np.diag(mask_utils.iou(ours, official, [0] * len(ours)))


def bench_mask_generation(sizes: Sizes, repeats: int,
                          device: torch.device) -> List[Measurement]:
    """Table 3: RLE from polygons vs the official bitmaps + encode (CPU
    work in both: pycocotools and cv2)."""
    height, width = sizes.mask_image
    polygons = random_image_polygons(
        np.random.default_rng(0), sizes.num_masks, sizes.mask_vertices,
        sizes.mask_image)
    cases = {
        'RLEMasks.from_polygons (ours)':
        lambda: [dict(m) for m in RLEMasks.from_polygons(
            polygons, height, width)],
        'official: cv2 bitmaps + encode_mask_results':
        lambda: encode_mask_results(
            official_bitmaps(polygons, height, width).numpy()),
    }
    rows = list(measure(cases, repeats, torch.device('cpu')).values())
    iou = mask_iou(*(fn() for fn in cases.values()))
    rows[1].check = f'{iou.mean():.3f} mean IoU'
    return rows


# ------------------------------------------------------------- printing
def measurement_table(rows: List[Measurement], title: str) -> str:
    """Rows with their time and memory ratios to the ``(ours)`` row: how
    many times more time and peak memory a row needs (so reference rows
    read as the saving of ours)."""
    mine = next(row for row in rows if row.name.endswith('(ours)'))
    table = [[
        row.name, _benchmark.fmt_ms(row.ms),
        _benchmark.fmt_ratio(row.ms / mine.ms),
        _benchmark.fmt_ms(row.mb),
        _benchmark.fmt_ratio(None if row.mb is None or not mine.mb else
                             row.mb / mine.mb), row.check or '-', row.note
    ] for row in rows]
    return _benchmark.format_table([
        'case', 'median ms', 'time / ours', 'peak MB', 'mem / ours',
        'check', 'note'
    ], table, title)


def goals(results: Dict[str, List[Measurement]]) -> Dict[str, bool]:
    """Whether each goal of the measured sections is met."""
    met = {}
    if 'rays' in results:
        official, ours = results['rays'][:2]
        met[f'ray targets >= {RAY_SPEEDUP_GOAL:g}x faster than the '
            'official loop'] = official.ms >= RAY_SPEEDUP_GOAL * ours.ms
    if 'masks' in results:
        ours, official = results['masks']
        met[f'mask generation < {MASK_TIME_GOAL_MS:g} ms'] = \
            ours.ms < MASK_TIME_GOAL_MS
        met[f'mask generation >= {MASK_SPEEDUP_GOAL:g}x cheaper than the '
            'official route'] = official.ms >= MASK_SPEEDUP_GOAL * ours.ms
    return met


BENCHMARKS = dict(rays=bench_ray_targets, raster=bench_soft_raster,
                  masks=bench_mask_generation)


def titles(sizes: Sizes) -> Dict[str, str]:
    """The title line of each table."""
    points = 9 * len(STRIDES)
    return dict(
        rays=f'Ray targets: {sizes.num_objects} objects x {points} points '
        f'x {sizes.num_rays} rays x {sizes.num_vertices}-vertex polygons, '
        'float32',
        raster=f'Soft rasteriser forward + backward: {sizes.num_polygons} '
        f'polygons x {sizes.polygon_vertices} vertices at '
        f'{sizes.raster_size} x {sizes.raster_size}, tau 0.1, float32',
        masks=f'Mask generation for CocoMetric: {sizes.num_masks} polygons '
        f'x {sizes.mask_vertices} vertices at {sizes.mask_image[0]} x '
        f'{sizes.mask_image[1]} (CPU)')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the polar geometry against its references')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument(
        '--repeats', type=int, default=None, help='timed runs per case')
    parser.add_argument(
        '--quick', action='store_true', help='small sizes (for tests)')
    parser.add_argument(
        '--skip', choices=list(BENCHMARKS), action='append', default=[])
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None,
         out: Callable[[str], None] = print) -> dict:
    """Run the benchmarks; returns ``{section: [Measurement]}`` and
    ``goals`` ({description: met})."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = QUICK_SIZES if args.quick else Sizes()
    repeats = args.repeats or (2 if args.quick else 5)
    out(f'{_benchmark.environment(device)}\nrepeats {repeats}, {sizes}')
    results: dict = {}
    for section, bench in BENCHMARKS.items():
        if section not in args.skip:
            results[section] = bench(sizes, repeats, device)
            out('\n' + measurement_table(results[section],
                                         titles(sizes)[section]))
    results['goals'] = goals(results)
    for goal, met in results['goals'].items():
        out(f'goal {goal}: {"met" if met else "NOT met"}')
    return results


if __name__ == '__main__':
    main()
