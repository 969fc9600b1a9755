"""Speed and memory of the polar geometry core against its references.

Prints two plain-text tables; every ratio in them comes from timings and
memory peaks measured in the same run:

1. **Ray targets** of one image: 50 objects x 45 candidate points x 36 rays
   x 200-vertex polygons (random concave star-like polygons, fixed seed;
   the 45 points per object are the official candidates, a 3 x 3 lattice
   around the centroid on each of the strides 8 ... 128, clipped to the
   object's box). :func:`mmdet_ext.geometry.polar_ray_targets` (default
   rounding slack, and ``edge_tol=0``, the official rule) against
   :func:`mmdet_ext.geometry._reference.reference_polar_ray_targets`, the
   official per-object loop with its dense (M, K, E, 4) tensors. The
   ``rays off`` column counts the rays whose length differs from the
   float64 official ones by more than 0.1 % (float32 rounding decides
   rays that graze a vertex; the candidates clipped onto the box make
   such rays frequent).
2. **Soft rasteriser**, forward + backward for 2,000 polygons of 36
   vertices at 64 x 64: :func:`mmdet_ext.geometry.soft_rasterize` against
   the dense all-pairs autograd reference and the naive per-pixel loop of
   :mod:`mmdet_ext.geometry._reference_raster`. The references are too
   slow (naive) or too large (dense, ~20 GB at full size) to run on all
   polygons, so they run on the subset given in the table and their time
   and memory are extrapolated linearly to all polygons (both are linear
   in the number of polygons); the table says which rows are. The
   ``max |diff|`` column compares their masks and vertex gradients with
   ours on that subset.

Times are medians over ``--repeats`` runs after a warm-up, taken round-robin
so that background load hits all cases alike (the naive reference runs
once). Peak memory is the extra memory a case needs on top of its inputs:
on CUDA ``torch.cuda.max_memory_allocated``; on CPU the rise of the
process's peak resident set size (``VmHWM``) while the case runs alone
(single-threaded) in a forked child process, which sees exactly the torch
allocations the case makes (Linux only; ``n/a`` elsewhere).

Example::

    python tools/analysis_tools/benchmark_polar_core.py --threads 1
    python tools/analysis_tools/benchmark_polar_core.py --quick
"""
import argparse
import ctypes
import gc
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mmdet_ext.geometry._reference import \
    reference_polar_ray_targets  # noqa: E402
from mmdet_ext.geometry._reference_raster import (  # noqa: E402
    dense_autograd_soft_rasterize, naive_soft_rasterize)
from mmdet_ext.geometry.ray_targets import polar_ray_targets  # noqa: E402
from mmdet_ext.geometry.soft_rasterizer import soft_rasterize  # noqa: E402
from mmdet_ext.structures.polygons import PolygonTensor  # noqa: E402

# Official candidate points: a 3 x 3 lattice around the centroid per level.
STRIDES = (8, 16, 32, 64, 128)
IMAGE_SIZE = (800, 1333)  # (H, W)
# The goal for the ray targets against the official loop.
RAY_SPEEDUP_GOAL = 5.0
# A ray is "off" if its length differs from the float64 official one by
# more than this, relative (absolute below length 1).
RAY_TOLERANCE = 1e-3


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


QUICK_SIZES = Sizes(
    num_objects=6,
    num_vertices=48,
    num_rays=36,
    num_polygons=48,
    polygon_vertices=12,
    raster_size=16,
    dense_subset=8,
    naive_subset=1)


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


# ------------------------------------------------------------- measuring
def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock times are complete."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_round_robin(cases: Dict[str, Callable[[], object]], repeats: int,
                     device: torch.device) -> Dict[str, List[float]]:
    """Run every case once per round (after one warm-up round).

    Args:
        cases (dict[str, Callable]): Name to a no-argument callable.
        repeats (int): Timed rounds.
        device (torch.device): Device to synchronise.

    Returns:
        dict[str, list[float]]: Seconds per run of each case.
    """
    times = {name: [] for name in cases}
    for round_index in range(repeats + 1):
        for name, fn in cases.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if round_index:  # round 0 is the warm-up
                times[name].append(time.perf_counter() - start)
    return times


def _status_bytes(key: str) -> int:
    """A ``/proc/self/status`` memory field (kB) in bytes."""
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS."""
    try:
        with open('/proc/self/clear_refs', 'w') as refs:
            refs.write('5')
        return True
    except OSError:
        return False


def _release_free_heap() -> None:
    """Collect garbage and return free malloc memory to the system."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _child_peak(fn: Callable[[], object]) -> int:
    """In a fresh fork: extra resident bytes at the peak of ``fn()``.

    A forked child faults in the pages of shared code it runs (RSS that is
    not the case's memory), so ``fn`` first runs once untimed; then free
    heap memory is returned to the system, the peak is reset and the
    second run is measured. Without a resettable peak the single run is
    measured (the kernel starts a child's peak at its RSS at fork).
    """
    if _reset_peak_rss():
        fn()
        _release_free_heap()
        _reset_peak_rss()
    base = _status_bytes('VmRSS')
    fn()
    return _status_bytes('VmHWM') - base


def peak_memory(fn: Callable[[], object],
                device: torch.device) -> Optional[int]:
    """Extra memory (bytes) that one run of ``fn`` needs at its peak.

    CUDA: ``max_memory_allocated`` above the memory allocated before.
    CPU (Linux): the rise of the peak RSS of a forked child that runs
    ``fn`` alone (see :func:`_child_peak`), so no other case's freed
    memory can be reused or counted. Returns None where neither is
    available.

    Args:
        fn (Callable): The case.
        device (torch.device): Its device.

    Returns:
        int | None: Bytes.
    """
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    if device.type != 'cpu' or not hasattr(os, 'fork') \
            or not os.path.exists('/proc/self/status'):
        return None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: measure, report through the pipe, exit at once
        os.close(read_end)
        # OpenMP thread pools do not survive a fork: run single-threaded
        # (the memory of these cases does not depend on the threads).
        torch.set_num_threads(1)
        try:
            message = str(_child_peak(fn))
        except BaseException:  # noqa: B902  (any failure -> 'n/a')
            message = ''
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return int(message) if message else None


# ------------------------------------------------------------ test data
def star_polygon(rng: np.random.Generator, num_vertices: int,
                 center: Sequence[float], scale: float) -> np.ndarray:
    """Random concave polygon, star-shaped about ``center`` (flat)."""
    angles = np.sort(rng.uniform(0, 2 * math.pi, num_vertices))
    angles += np.arange(num_vertices) * 1e-4  # keep the angles distinct
    radii = rng.uniform(0.3, 1.0, num_vertices) * scale
    xy = np.stack([
        center[0] + radii * np.cos(angles), center[1] + radii * np.sin(angles)
    ],
                  axis=1)
    return xy.reshape(-1)


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


def raster_inputs(sizes: Sizes, device: torch.device,
                  seed: int = 0) -> Tuple[Tensor, Tensor]:
    """Polygons in grid coordinates and an upstream gradient."""
    rng = np.random.default_rng(seed)
    size = sizes.raster_size
    polygons = np.stack([
        star_polygon(rng, sizes.polygon_vertices,
                     rng.uniform(0.35 * size, 0.65 * size, 2),
                     rng.uniform(0.15, 0.5) * size).reshape(-1, 2)
        for _ in range(sizes.num_polygons)
    ])
    grad = rng.standard_normal((sizes.num_polygons, size, size))
    return (torch.as_tensor(polygons, dtype=torch.float32, device=device),
            torch.as_tensor(grad, dtype=torch.float32, device=device))


# ----------------------------------------------------------- benchmarks
def bench_ray_targets(sizes: Sizes, repeats: int,
                      device: torch.device) -> List[Measurement]:
    """Table 1: ours (default, official tolerance) vs the official loop."""
    points, edges, edge_valid, obj_inds = ray_target_inputs(sizes, device)
    args = (points, edges, edge_valid, obj_inds, sizes.num_rays)
    cases = {
        'official loop (reference)':
        lambda: reference_polar_ray_targets(*args),
        'polar_ray_targets':
        lambda: polar_ray_targets(*args),
        'polar_ray_targets, edge_tol=0':
        lambda: polar_ray_targets(*args, edge_tol=0.0),
    }
    times = time_round_robin(cases, repeats, device)
    # Float64 official lengths as the yardstick of every float32 row.
    truth = reference_polar_ray_targets(points.double(), edges.double(),
                                        edge_valid, obj_inds,
                                        sizes.num_rays)
    rows = []
    for name, fn in cases.items():
        off = (fn().double() - truth).abs() > RAY_TOLERANCE * truth.abs(
        ).clamp(min=1)
        rows.append(
            Measurement(
                name,
                times[name],
                peak_memory(fn, device),
                check=f'{int(off.sum())} / {off.numel()}'))
    return rows


def _forward_backward(rasterize: Callable[..., Tensor], vertices: Tensor,
                      grad: Tensor, size: int) -> Tuple[Tensor, Tensor]:
    """One forward + backward; returns the masks and vertex gradients."""
    leaf = vertices.detach().requires_grad_(True)
    masks = rasterize(leaf, size, 0.1)
    masks.backward(grad)
    return masks.detach(), leaf.grad


def bench_soft_raster(sizes: Sizes, repeats: int,
                      device: torch.device) -> List[Measurement]:
    """Table 2: ours vs dense autograd and naive references."""
    vertices, grad = raster_inputs(sizes, device)
    size, total = sizes.raster_size, sizes.num_polygons
    dense_n = min(sizes.dense_subset, total)
    naive_n = min(sizes.naive_subset, total)
    cases = {
        'soft_rasterize (ours)':
        lambda: _forward_backward(soft_rasterize, vertices, grad, size),
        'dense autograd reference':
        lambda: _forward_backward(dense_autograd_soft_rasterize,
                                  vertices[:dense_n], grad[:dense_n], size),
    }
    times = time_round_robin(cases, repeats, device)
    naive = lambda: _forward_backward(  # noqa: E731
        naive_soft_rasterize, vertices[:naive_n], grad[:naive_n], size)
    # Python-loop bound and slow: one untimed-warm-up-free run.
    synchronize(device)
    start = time.perf_counter()
    naive_masks, naive_grad = naive()
    synchronize(device)
    naive_times = [time.perf_counter() - start]

    ours_masks, ours_grad = cases['soft_rasterize (ours)']()
    dense_masks, dense_grad = cases['dense autograd reference']()

    def max_diff(masks: Tensor, grads: Tensor) -> float:
        count = masks.shape[0]
        return max((ours_masks[:count] - masks).abs().max().item(),
                   (ours_grad[:count] - grads).abs().max().item())

    def extrapolated(count: int) -> str:
        return f'extrapolated x{total / count:g} from {count}'

    return [
        Measurement('soft_rasterize (ours)', times['soft_rasterize (ours)'],
                    peak_memory(cases['soft_rasterize (ours)'], device)),
        Measurement(
            'dense autograd reference',
            times['dense autograd reference'],
            peak_memory(cases['dense autograd reference'], device),
            scale=total / dense_n,
            note=extrapolated(dense_n),
            check=f'{max_diff(dense_masks, dense_grad):.2g}'),
        Measurement(
            'naive per-pixel reference',
            naive_times,
            peak_memory(naive, device),
            scale=total / naive_n,
            note=extrapolated(naive_n) + ', 1 run',
            check=f'{max_diff(naive_masks, naive_grad):.2g}'),
    ]


# ------------------------------------------------------------- printing
def format_table(headers: Sequence[str],
                 rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table, first column left-aligned, the rest right."""
    widths = [
        max(len(str(row[i])) for row in [headers, *rows])
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        return '  '.join(
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths)))

    rule = '-' * len(line(headers))
    return '\n'.join([line(headers), rule, *(line(row) for row in rows)])


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return 'n/a' if value is None or value != value else f'{value:.{digits}f}'


def _ratio(numerator: Optional[float],
           denominator: Optional[float]) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return 'n/a'
    return f'{numerator / denominator:.1f}x'


def measurement_table(rows: List[Measurement], ours: str,
                      check_header: str) -> str:
    """Table of the rows with their time and memory ratios to ``ours``.

    ``time / ours`` and ``mem / ours`` are how many times more time and
    peak memory a row needs than ``ours`` (so the reference rows read as
    the speed-up and memory saving of ours).
    """
    mine = next(row for row in rows if row.name == ours)
    headers = [
        'case', 'median ms', 'time / ours', 'peak MB', 'mem / ours',
        check_header, 'note'
    ]
    table = [[
        row.name,
        _fmt(row.ms, 2),
        _ratio(row.ms, mine.ms),
        _fmt(row.mb, 1),
        _ratio(row.mb, mine.mb),
        row.check or '-',
        row.note,
    ] for row in rows]
    return format_table(headers, table)


def header(device: torch.device, sizes: Sizes, repeats: int) -> str:
    """Environment line(s) printed above the tables."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as info:
            cpu = next(line.split(':', 1)[1].strip() for line in info
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    name = torch.cuda.get_device_name(device) \
        if device.type == 'cuda' else cpu
    return (f'torch {torch.__version__} | device {device} ({name}) | '
            f'threads {torch.get_num_threads()} | repeats {repeats} | '
            f'load average {load:.2f}\nsizes: {sizes}')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the polar geometry core against references')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument(
        '--repeats', type=int, default=None, help='timed runs per case')
    parser.add_argument(
        '--quick', action='store_true', help='small sizes (for tests)')
    parser.add_argument(
        '--skip', choices=('rays', 'raster'), action='append', default=[])
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, list]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = QUICK_SIZES if args.quick else Sizes()
    repeats = args.repeats or (2 if args.quick else 5)
    print(header(device, sizes, repeats))
    results = {}
    if 'rays' not in args.skip:
        rows = bench_ray_targets(sizes, repeats, device)
        results['rays'] = rows
        points = sizes.num_objects * 9 * len(STRIDES)
        print(f'\nRay targets: {sizes.num_objects} objects x '
              f'{points // sizes.num_objects} points x {sizes.num_rays} '
              f'rays x {sizes.num_vertices}-vertex polygons, float32 '
              f'(goal: >= {RAY_SPEEDUP_GOAL:g}x faster than the official '
              'loop)')
        print(measurement_table(rows, 'polar_ray_targets', 'rays off'))
        speedup = rows[0].ms / rows[1].ms
        verdict = 'met' if speedup >= RAY_SPEEDUP_GOAL else 'NOT met'
        print(f'rays off: rays whose length differs from the float64 '
              f'official one by more than {RAY_TOLERANCE:g} (relative)\n'
              f'polar_ray_targets is {speedup:.1f}x faster than the '
              f'official loop: goal {verdict}')
    if 'raster' not in args.skip:
        rows = bench_soft_raster(sizes, repeats, device)
        results['raster'] = rows
        print(f'\nSoft rasteriser forward + backward: {sizes.num_polygons} '
              f'polygons x {sizes.polygon_vertices} vertices at '
              f'{sizes.raster_size} x {sizes.raster_size}, tau 0.1, float32')
        print(
            measurement_table(rows, 'soft_rasterize (ours)', 'max |diff|'))
        print('max |diff|: largest difference of the masks and of the '
              'vertex gradients from ours, on the subset')
    return results


if __name__ == '__main__':
    main()
