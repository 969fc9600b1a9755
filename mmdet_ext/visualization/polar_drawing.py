"""Drawing primitives for polar instance representations.

Each function draws onto an mmengine ``Visualizer`` whose image is already
set (``visualizer.set_image(image)``), so the demo, ``browse_dataset.py`` and
:class:`~mmdet_ext.visualization.PolarDetVisualizer` share one code path and
the visualiser's own ``get_image`` returns the result.

Coordinates are pixels of the drawn image, (x, y) with y down.
"""
from typing import List, Sequence, Tuple, Union

import numpy as np
from mmengine.visualization import Visualizer
from torch import Tensor

Color = Tuple[int, int, int]
ArrayLike = Union[np.ndarray, Tensor]
# One object's outline: a (V, 2) ring, or a list of rings (multi-part GT).
ObjectPolygons = Union[ArrayLike, Sequence[ArrayLike]]


def as_numpy(values: ArrayLike) -> np.ndarray:
    """Float64 numpy copy of a tensor or array (detached, on the CPU)."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def object_rings(polygons: Union[ArrayLike, Sequence[ObjectPolygons]]
                 ) -> List[List[np.ndarray]]:
    """Normalise per-object polygons to a list (objects) of lists (parts)
    of (V, 2) rings.

    Args:
        polygons (Tensor | ndarray | list): Either a dense (N, K, 2) array
            (one ring per object, e.g. decoded rays) or a list over objects
            whose items are a (V, 2) ring, a flat ``[x0, y0, x1, y1, ...]``
            COCO part, or a list of such parts.

    Returns:
        list[list[ndarray]]: Rings with at least 2 finite vertices; parts
        with fewer (or with NaN/inf) are left out, so an object may end up
        with no ring at all.
    """
    if isinstance(polygons, (Tensor, np.ndarray)):
        dense = as_numpy(polygons)
        if dense.ndim != 3 or dense.shape[-1] != 2:
            raise ValueError('dense polygons must be (N, K, 2), got '
                             f'{tuple(dense.shape)}')
        return [_valid_rings([ring]) for ring in dense]
    objects = []
    for item in polygons:
        parts = [item] if _is_single_ring(item) else list(item)
        objects.append(_valid_rings(parts))
    return objects


def _is_single_ring(item) -> bool:
    """True for one (V, 2) ring or one flat coordinate list."""
    array = item if isinstance(item, (Tensor, np.ndarray)) else None
    if array is not None:
        return array.ndim in (1, 2)
    return len(item) > 0 and np.isscalar(item[0])


def _valid_rings(parts: Sequence[ArrayLike]) -> List[np.ndarray]:
    """Parts as (V, 2) float arrays, keeping only drawable ones."""
    rings = []
    for part in parts:
        ring = as_numpy(part)
        if ring.ndim == 1:
            if ring.size % 2:
                continue
            ring = ring.reshape(-1, 2)
        if len(ring) >= 2 and np.isfinite(ring).all():
            rings.append(ring)
    return rings


def label_colors(labels: ArrayLike, palette: Sequence[Color]) -> List[Color]:
    """One palette colour per label (the palette is indexed modulo its
    length, so any class count works)."""
    labels = as_numpy(labels).astype(np.int64).reshape(-1)
    if not len(palette):
        raise ValueError('palette is empty')
    return [tuple(palette[int(label) % len(palette)]) for label in labels]


def draw_polygon_outlines(visualizer: Visualizer,
                          polygons: Union[ArrayLike, Sequence],
                          colors: Sequence[Color],
                          line_width: float = 2.0,
                          alpha: float = 0.9) -> int:
    """Draw every part of every object as a closed outline.

    Args:
        visualizer (Visualizer): Visualiser with its image set.
        polygons (Tensor | ndarray | list): N objects, see
            :func:`object_rings`.
        colors (Sequence[tuple]): N RGB colours.
        line_width (float): Outline width in pixels.
        alpha (float): Outline opacity.

    Returns:
        int: Number of rings drawn.
    """
    objects = object_rings(polygons)
    if len(colors) != len(objects):
        raise ValueError(f'{len(objects)} objects but {len(colors)} colours')
    rings, ring_colors = [], []
    for parts, color in zip(objects, colors):
        rings.extend(ring for ring in parts if len(ring) >= 3)
        ring_colors.extend(color for ring in parts if len(ring) >= 3)
    if rings:
        visualizer.draw_polygons(
            rings,
            edge_colors=ring_colors,
            line_widths=line_width,
            alpha=alpha)
    return len(rings)


def draw_rays(visualizer: Visualizer,
              origins: ArrayLike,
              ray_ends: ArrayLike,
              colors: Sequence[Color],
              line_width: float = 0.8) -> int:
    """Draw K rays per object, each from its origin to its end point.

    Args:
        visualizer (Visualizer): Visualiser with its image set.
        origins (Tensor | ndarray): Ray origins (N, 2).
        ray_ends (Tensor | ndarray): Ray end points (N, K, 2) (decoded
            vertices).
        colors (Sequence[tuple]): N RGB colours.
        line_width (float): Ray width in pixels.

    Returns:
        int: Number of rays drawn (rays with non-finite ends are skipped).
    """
    origins, ends = as_numpy(origins), as_numpy(ray_ends)
    if origins.ndim != 2 or origins.shape[-1] != 2:
        raise ValueError(f'origins must be (N, 2), got {origins.shape}')
    if ends.ndim != 3 or ends.shape[0] != len(origins) or \
            ends.shape[-1] != 2:
        raise ValueError('ray_ends must be (N, K, 2) with N = '
                         f'{len(origins)}, got {ends.shape}')
    if len(colors) != len(origins):
        raise ValueError(f'{len(origins)} origins but {len(colors)} colours')
    starts = np.broadcast_to(origins[:, None], ends.shape)
    keep = np.isfinite(ends).all(-1) & np.isfinite(starts).all(-1)
    if not keep.any():
        return 0
    x = np.stack([starts[..., 0], ends[..., 0]], -1)[keep]
    y = np.stack([starts[..., 1], ends[..., 1]], -1)[keep]
    ray_colors = [colors[i] for i in np.nonzero(keep)[0]]
    visualizer.draw_lines(x, y, colors=ray_colors, line_widths=line_width)
    return int(keep.sum())


def draw_origins(visualizer: Visualizer,
                 origins: ArrayLike,
                 colors: Sequence[Color],
                 radius: float = 3.0) -> int:
    """Draw each ray origin as a filled dot with a white rim.

    Args:
        visualizer (Visualizer): Visualiser with its image set.
        origins (Tensor | ndarray): Points (N, 2).
        colors (Sequence[tuple]): N RGB fill colours.
        radius (float): Dot radius in pixels.

    Returns:
        int: Number of dots drawn (non-finite origins are skipped).
    """
    origins = as_numpy(origins).reshape(-1, 2)
    keep = np.isfinite(origins).all(-1)
    if not keep.any():
        return 0
    visualizer.draw_circles(
        origins[keep],
        np.full(int(keep.sum()), float(radius)),
        edge_colors='w',
        face_colors=[colors[i] for i in np.nonzero(keep)[0]],
        line_widths=1,
        alpha=1.0)
    return int(keep.sum())


__all__ = [
    'as_numpy', 'object_rings', 'label_colors', 'draw_polygon_outlines',
    'draw_rays', 'draw_origins'
]
