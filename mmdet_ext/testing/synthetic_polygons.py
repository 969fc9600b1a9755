"""Random polygons and COCO-like ground truth for tests and benchmarks.

One generator for every caller: star-shaped rings around a centre (simple,
often concave), in one batch or one at a time, and whole images of
ground truth with multi-part objects.
"""
from typing import Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.structures.mask import PolygonMasks


def star_polygons(rng: np.random.Generator,
                  num: int,
                  num_vertices: int,
                  centres: np.ndarray,
                  radii: np.ndarray,
                  min_radius_ratio: float = 0.3,
                  regular_angles: bool = False) -> np.ndarray:
    """Random polygons, star-shaped about their centres.

    Vertex ``k`` lies at angle ``theta_k`` and distance ``radius * u_k``
    with ``u_k ~ U(min_radius_ratio, 1)``. With random angles they are
    sorted and nudged apart, so every polygon is simple.

    Args:
        rng (np.random.Generator): Source of randomness.
        num (int): Number of polygons N.
        num_vertices (int): Vertices per polygon V.
        centres (np.ndarray): (N, 2) or (2, ) centres (x, y).
        radii (np.ndarray | float): (N, ) or scalar outer radius.
        min_radius_ratio (float): Smallest vertex distance as a fraction
            of the radius.
        regular_angles (bool): Vertex k at ``2 pi k / V`` (the polar
            decoding's layout) instead of random sorted angles.

    Returns:
        np.ndarray: float64 (N, V, 2) vertices (x, y).
    """
    if regular_angles:
        angles = np.broadcast_to(
            2 * np.pi * np.arange(num_vertices) / num_vertices,
            (num, num_vertices))
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, (num, num_vertices)), -1)
        angles = angles + np.arange(num_vertices) * 1e-3
    lengths = np.asarray(radii, dtype=np.float64).reshape(-1, 1) * rng.uniform(
        min_radius_ratio, 1.0, (num, num_vertices))
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 1, 2)
    return centres + lengths[..., None] * np.stack(
        [np.cos(angles), np.sin(angles)], -1)


def star_polygon(rng: np.random.Generator,
                 num_vertices: int,
                 centre=(0.0, 0.0),
                 radius: float = 10.0,
                 min_radius_ratio: float = 0.3) -> np.ndarray:
    """One random star-shaped ring as a flat COCO list
    ``[x0, y0, x1, y1, ...]`` (float64, (2 V, )); see
    :func:`star_polygons`."""
    return star_polygons(rng, 1, num_vertices, np.asarray(centre), radius,
                         min_radius_ratio)[0].reshape(-1)


def random_image_polygons(rng: np.random.Generator,
                          num: int,
                          num_vertices: int,
                          size: Tuple[int, int],
                          radius_range: Tuple[float, float] = (8.0, 0.4),
                          min_radius_ratio: float = 0.6,
                          dtype: torch.dtype = torch.float32) -> Tensor:
    """Polygons as a polar head decodes them (vertex k at ``2 pi k / V``),
    anywhere in an image, clipped to it.

    Args:
        rng (np.random.Generator): Source of randomness.
        num (int): Number of polygons N.
        num_vertices (int): Vertices per polygon V.
        size (tuple[int, int]): Image (height, width).
        radius_range (tuple[float, float]): Smallest radius in pixels and
            largest as a fraction of the short side; radii are log-uniform
            in between, so small, medium and large objects all occur.
        min_radius_ratio (float): See :func:`star_polygons`.
        dtype (torch.dtype): Output dtype.

    Returns:
        Tensor: (N, V, 2) vertices (x, y).
    """
    height, width = size
    centres = rng.uniform((0, 0), (width, height), size=(num, 2))
    radii = np.exp(
        rng.uniform(
            np.log(radius_range[0]),
            np.log(radius_range[1] * min(height, width)), num))
    xy = star_polygons(rng, num, num_vertices, centres, radii,
                       min_radius_ratio, regular_angles=True)
    xy[..., 0] = xy[..., 0].clip(0, width - 1)
    xy[..., 1] = xy[..., 1].clip(0, height - 1)
    return torch.from_numpy(xy).to(dtype)


def synthetic_gt(num_objects: int,
                 size: Tuple[int, int],
                 num_classes: int,
                 rng: np.random.Generator,
                 min_radius: float = 4.0,
                 two_part_ratio: float = 0.25) -> InstanceData:
    """COCO-like ground truth of one image: polygons of 8-40 vertices,
    radii log-uniform from ``min_radius`` px to 35 % of the short side,
    about one object in four in two parts (occlusion), all inside the
    image.

    Args:
        num_objects (int): Number of objects N.
        size (tuple[int, int]): Image (height, width).
        num_classes (int): Labels are uniform in ``[0, num_classes)``.
        rng (np.random.Generator): Source of randomness.
        min_radius (float): Smallest object radius in pixels.
        two_part_ratio (float): Probability of a second part.

    Returns:
        InstanceData: ``labels`` (N, ), ``masks`` (``PolygonMasks``) and
        ``bboxes`` (N, 4).
    """
    height, width = size
    polygons, boxes = [], []
    for _ in range(num_objects):
        radius = float(
            np.exp(rng.uniform(np.log(min_radius), np.log(0.35 * min(size)))))
        centre = rng.uniform((radius, radius),
                             (width - radius, height - radius))
        parts = [
            star_polygon(rng, int(rng.integers(8, 41)), centre, radius, 0.5)
        ]
        if rng.random() < two_part_ratio:
            offset = rng.uniform(-1.5, 1.5, 2) * radius
            second = np.clip(centre + offset, 0, (width - 1, height - 1))
            parts.append(
                star_polygon(rng, int(rng.integers(8, 21)), second,
                             0.4 * radius, 0.5))
        parts = [_clip_flat(p, width, height) for p in parts]
        xy = np.concatenate([p.reshape(-1, 2) for p in parts])
        polygons.append(parts)
        boxes.append([*xy.min(0), *xy.max(0)])
    return InstanceData(
        labels=torch.from_numpy(rng.integers(0, num_classes,
                                             num_objects)).long(),
        masks=PolygonMasks(polygons, height, width),
        bboxes=torch.tensor(
            np.asarray(boxes, dtype=np.float32).reshape(-1, 4)))


def _clip_flat(flat: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip a flat ``[x0, y0, ...]`` ring into the image."""
    xy = flat.reshape(-1, 2).copy()
    xy[:, 0] = xy[:, 0].clip(0, width - 1)
    xy[:, 1] = xy[:, 1].clip(0, height - 1)
    return xy.reshape(-1)
