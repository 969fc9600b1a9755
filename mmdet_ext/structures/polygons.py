"""Padded tensor view of multi-part instance polygons.

MMDetection's :class:`mmdet.structures.mask.PolygonMasks` already carries
every part of every object through resize, flip, crop and pad, so it stays
the data-pipeline structure.  :class:`PolygonTensor` is built from it (or
from its raw ``masks`` list) right before the geometry code runs, and holds
all objects of one image as zero-padded tensors on one device so that ray
targets, origins and rasterisation can be batched over objects.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

RawPolygons = Sequence[Sequence[Union[np.ndarray, Sequence[float]]]]
IndexType = Union[int, slice, Sequence[int], Tensor, np.ndarray]

# A part whose area is below this fraction of its squared bbox extent is
# treated as degenerate (collinear points): dividing by such an area is what
# makes the official centroid blow up.
_REL_AREA_EPS = 1e-10

DROP_REASONS = ('odd_coordinates', 'non_finite', 'too_few_vertices',
                'zero_area', 'no_valid_part')


def shoelace_area(vertices: np.ndarray) -> float:
    """Signed shoelace area of one closed ring.

    Args:
        vertices (np.ndarray): Ring vertices, shape (V, 2).

    Returns:
        float: Signed area, positive for counter-clockwise rings in a
        y-up frame (clockwise on screen, where y points down).
    """
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _drop_repeated_vertices(vertices: np.ndarray) -> np.ndarray:
    """Remove consecutive (and closing, last == first) duplicate vertices.

    Args:
        vertices (np.ndarray): Ring vertices, shape (V, 2).

    Returns:
        np.ndarray: Ring without repeated neighbours, shape (V', 2).
    """
    if len(vertices) < 2:
        return vertices
    repeated = np.all(vertices == np.roll(vertices, 1, axis=0), axis=1)
    if repeated.all():
        # Every vertex is the same point: keep one so the caller can still
        # classify the part as having too few vertices.
        return vertices[:1]
    return vertices[~repeated]


def sanitize_part(part: Union[np.ndarray, Sequence[float]],
                  counts: Dict[str, int]) -> Optional[np.ndarray]:
    """Clean one flat polygon part, or reject it.

    Args:
        part (np.ndarray | Sequence[float]): Flat coordinates
            ``[x0, y0, x1, y1, ...]`` (any array shape is flattened).
        counts (dict[str, int]): Drop counters, updated in place.

    Returns:
        np.ndarray | None: The cleaned float64 ring of shape (V, 2) with
        V >= 3 and non-zero area, or None if the part was dropped (the
        reason is counted in ``counts``).
    """
    coords = np.asarray(part, dtype=np.float64).reshape(-1)
    if coords.size % 2:
        counts['odd_coordinates'] += 1
        return None
    if not np.isfinite(coords).all():
        counts['non_finite'] += 1
        return None
    vertices = coords.reshape(-1, 2)
    cleaned = _drop_repeated_vertices(vertices)
    counts['duplicate_vertices'] += len(vertices) - len(cleaned)
    if len(cleaned) < 3:
        counts['too_few_vertices'] += 1
        return None
    extent = float(np.ptp(cleaned, axis=0).max())
    if abs(shoelace_area(cleaned)) <= _REL_AREA_EPS * extent**2:
        counts['zero_area'] += 1
        return None
    return cleaned


def _next_vertex_indices(part_ids: Tensor) -> Tensor:
    """Index of the following vertex inside the same part (cyclic).

    Args:
        part_ids (Tensor): Part index of each vertex, -1 for padding,
            shape (N, V). Parts are stored contiguously.

    Returns:
        Tensor: Long tensor (N, V). Padding positions point to themselves.
    """
    num_objs, num_verts = part_ids.shape
    positions = torch.arange(num_verts, device=part_ids.device)
    positions = positions.expand(num_objs, num_verts)
    if num_verts == 0:
        return positions.clone()
    previous = torch.cat(
        [part_ids.new_full((num_objs, 1), -2), part_ids[:, :-1]], dim=1)
    is_start = part_ids != previous
    part_start = torch.where(is_start, positions, torch.zeros_like(positions))
    part_start = part_start.cummax(dim=1).values
    following = torch.cat(
        [part_ids[:, 1:],
         part_ids.new_full((num_objs, 1), -2)], dim=1)
    same_part = following == part_ids
    next_inds = torch.where(same_part, positions + 1, part_start)
    return torch.where(part_ids >= 0, next_inds, positions)


class PolygonTensor:
    """All polygon parts of the N objects of one image, as padded tensors.

    Layout: the parts of object i are concatenated along the vertex axis
    (part 0 first), followed by zero padding, so ``vertices[i, v]`` belongs
    to part ``part_ids[i, v]`` (-1 = padding). Each part is a closed ring:
    its last vertex connects back to its first one.

    Sanitisation (done by :meth:`from_polygon_masks`), per part:

    - an odd number of coordinates -> dropped (``'odd_coordinates'``);
    - any NaN/inf coordinate -> dropped (``'non_finite'``);
    - consecutive repeated vertices (including last == first) are removed
      (the removed vertices are counted in ``'duplicate_vertices'``);
    - fewer than 3 distinct vertices left -> dropped
      (``'too_few_vertices'``);
    - absolute shoelace area <= 1e-10 * (largest bbox side)^2, i.e. zero up
      to rounding -> dropped (``'zero_area'``).

    An object with no part left keeps its row (so indices into the GT list
    stay aligned) but the row is all zeros / -1, ``valid`` is False, and it
    is counted in ``'no_valid_part'``. Such rows produce no edges, so ray
    targets of points assigned to them are all misses and their centroids
    are (0, 0); callers should filter them with ``valid``. The counters are
    in :attr:`dropped` (parts, except ``'duplicate_vertices'``, which counts
    vertices, and ``'no_valid_part'``, which counts objects).

    Args:
        vertices (Tensor): Float tensor (N, V, 2), zero padded.
        part_ids (Tensor): Long tensor (N, V), -1 for padding. The parts of
            one object must be contiguous and numbered 0, 1, ...
        dropped (dict[str, int], optional): Sanitisation counters.
    """

    def __init__(self,
                 vertices: Tensor,
                 part_ids: Tensor,
                 dropped: Optional[Dict[str, int]] = None) -> None:
        if vertices.dim() != 3 or vertices.shape[-1] != 2:
            raise ValueError(
                f'vertices must be (N, V, 2), got {tuple(vertices.shape)}')
        if part_ids.shape != vertices.shape[:2]:
            raise ValueError('part_ids must be (N, V) matching vertices, got '
                             f'{tuple(part_ids.shape)}')
        self.part_ids = part_ids.to(device=vertices.device, dtype=torch.long)
        padding = (self.part_ids < 0).unsqueeze(-1)
        self.vertices = vertices.masked_fill(padding, 0)
        self.dropped = _empty_counts()
        self.dropped.update(dropped or {})
        self._next_inds = _next_vertex_indices(self.part_ids)

    # ------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------
    @classmethod
    def from_polygon_masks(
            cls,
            masks: Union[RawPolygons, object],
            device: Union[str, torch.device, None] = None,
            dtype: torch.dtype = torch.float32) -> 'PolygonTensor':
        """Build from ``PolygonMasks`` or its raw list-of-lists form.

        Args:
            masks (PolygonMasks | list[list[array]]): Either an object with
                a ``masks`` attribute (mmdet ``PolygonMasks``) or the raw
                list over objects of lists over parts of flat coordinate
                arrays ``[x0, y0, x1, y1, ...]``.
            device (str | torch.device, optional): Target device. Defaults
                to CPU.
            dtype (torch.dtype): Float dtype of :attr:`vertices`.

        Returns:
            PolygonTensor: N = number of objects in ``masks``.
        """
        raw = getattr(masks, 'masks', masks)
        counts = _empty_counts()
        objects = [_sanitize_object(parts, counts) for parts in raw]
        num_verts = max([sum(len(p) for p in obj) for obj in objects] + [0])
        vertices = np.zeros((len(objects), num_verts, 2), dtype=np.float64)
        part_ids = np.full((len(objects), num_verts), -1, dtype=np.int64)
        for i, parts in enumerate(objects):
            start = 0
            for j, ring in enumerate(parts):
                vertices[i, start:start + len(ring)] = ring
                part_ids[i, start:start + len(ring)] = j
                start += len(ring)
        return cls(
            torch.as_tensor(vertices, dtype=dtype, device=device),
            torch.as_tensor(part_ids, device=device), counts)

    # ------------------------------------------------------------------
    # basic properties
    # ------------------------------------------------------------------
    def __len__(self) -> int:
        return self.vertices.shape[0]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_objects={len(self)}, '
                f'max_vertices={self.vertices.shape[1]}, '
                f'num_valid={int(self.valid.sum())}, '
                f'dropped={self.dropped})')

    @property
    def device(self) -> torch.device:
        """torch.device: Device of the tensors."""
        return self.vertices.device

    @property
    def dtype(self) -> torch.dtype:
        """torch.dtype: Float dtype of :attr:`vertices`."""
        return self.vertices.dtype

    @property
    def vertex_valid(self) -> Tensor:
        """Tensor: Bool (N, V), True for real (non-padding) vertices."""
        return self.part_ids >= 0

    @property
    def num_parts(self) -> Tensor:
        """Tensor: Long (N,), number of valid parts per object."""
        if self.part_ids.shape[1] == 0:
            return self.part_ids.new_zeros(len(self))
        return self.part_ids.max(dim=1).values + 1

    @property
    def valid(self) -> Tensor:
        """Tensor: Bool (N,), objects with at least one valid part."""
        return self.num_parts > 0

    @property
    def next_vertex_indices(self) -> Tensor:
        """Tensor: Long (N, V), index of the next vertex of the same part."""
        return self._next_inds

    def to(self,
           device: Union[str, torch.device, None] = None,
           dtype: Optional[torch.dtype] = None) -> 'PolygonTensor':
        """Move to another device and/or float dtype.

        Args:
            device (str | torch.device, optional): Target device.
            dtype (torch.dtype, optional): Target float dtype.

        Returns:
            PolygonTensor: A new structure (tensors copied only if needed).
        """
        return PolygonTensor(
            self.vertices.to(device=device, dtype=dtype),
            self.part_ids.to(device=device), dict(self.dropped))

    def __getitem__(self, index: IndexType) -> 'PolygonTensor':
        """Select objects, e.g. ``polygons[polygons.valid]``.

        Args:
            index (int | slice | Sequence[int] | Tensor | np.ndarray):
                Object index, list, slice or bool/long mask over N.

        Returns:
            PolygonTensor: The selected objects (counters are kept).
        """
        if isinstance(index, int):
            index = [index]
        if isinstance(index, (list, tuple, np.ndarray)):
            index = torch.as_tensor(index, device=self.device)
            if index.numel() == 0:
                index = index.long()
        return PolygonTensor(self.vertices[index], self.part_ids[index],
                             dict(self.dropped))

    # ------------------------------------------------------------------
    # geometry
    # ------------------------------------------------------------------
    def _cross_terms(self) -> Tuple[Tensor, Tensor]:
        """Shoelace cross products of each edge and the next vertices.

        Returns:
            tuple[Tensor, Tensor]: ``cross`` (N, V), x_i*y_j - x_j*y_i with
            j the next vertex (0 on padding), and the next vertices
            (N, V, 2).
        """
        next_xy = _gather_vertices(self.vertices, self._next_inds)
        cross = (
            self.vertices[..., 0] * next_xy[..., 1] -
            next_xy[..., 0] * self.vertices[..., 1])
        return cross * self.vertex_valid, next_xy

    def _sum_per_part(self, values: Tensor) -> Tensor:
        """Sum per-vertex values into their parts.

        Args:
            values (Tensor): Shape (N, V) or (N, V, C); padding must be 0.

        Returns:
            Tensor: Shape (N, P) or (N, P, C) with P = max parts (>= 1).
        """
        num_parts = max(int(self.num_parts.max()) if len(self) else 0, 1)
        index = self.part_ids.clamp(min=0)
        shape = (len(self), num_parts) + tuple(values.shape[2:])
        if values.dim() == 3:
            index = index.unsqueeze(-1).expand_as(values)
        return values.new_zeros(shape).scatter_add_(1, index, values)

    def signed_part_areas(self) -> Tensor:
        """Signed shoelace area of every part.

        Returns:
            Tensor: Shape (N, P), P = max number of parts (at least 1),
            0 for missing parts.
        """
        cross, _ = self._cross_terms()
        return 0.5 * self._sum_per_part(cross)

    def part_areas(self) -> Tensor:
        """Absolute shoelace area of every part.

        Returns:
            Tensor: Shape (N, P), P = max number of parts (at least 1),
            0 for missing parts.
        """
        return self.signed_part_areas().abs()

    def areas(self) -> Tensor:
        """Total area per object, the sum of its part areas.

        Parts are treated as disjoint regions (COCO polygons encode no
        holes), so overlapping parts are counted twice.

        Returns:
            Tensor: Shape (N,), 0 for invalid objects.
        """
        return self.part_areas().sum(dim=1)

    def largest_part(self) -> 'PolygonTensor':
        """Keep only the part with the largest absolute area per object.

        Ties are broken by the lowest part index (the official code raises
        on ties). Invalid objects stay invalid.

        Returns:
            PolygonTensor: Single-part polygons, vertex axis trimmed.
        """
        largest = self.part_areas().argmax(dim=1, keepdim=True)
        keep = self.part_ids == largest
        return self._compact(keep)

    def _compact(self, keep: Tensor) -> 'PolygonTensor':
        """Keep the marked vertices, move them to the front, renumber.

        Args:
            keep (Tensor): Bool (N, V), vertices to keep. Must select whole
                parts.

        Returns:
            PolygonTensor: Compacted structure with parts renumbered from 0.
        """
        order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True)[1]
        num_keep = int(keep.sum(dim=1).max()) if keep.numel() else 0
        order = order[:, :num_keep]
        kept = torch.gather(keep, 1, order)
        vertices = _gather_vertices(self.vertices, order)
        old_ids = torch.gather(self.part_ids, 1, order)
        # Renumber the kept parts 0, 1, ... in order of appearance.
        previous = torch.cat(
            [old_ids.new_full((len(self), 1), -2), old_ids[:, :-1]], dim=1)
        new_ids = ((old_ids != previous) & kept).long().cumsum(dim=1) - 1
        new_ids = torch.where(kept, new_ids, torch.full_like(new_ids, -1))
        return PolygonTensor(vertices, new_ids, dict(self.dropped))

    def part_centroids(self) -> Tuple[Tensor, Tensor]:
        """Area centroid and absolute area of every part.

        Uses c = sum((v_i + v_j) * cross_ij) / (6 * A). A part whose area
        underflows to 0 in this dtype falls back to its vertex mean, so the
        result is always finite.

        Returns:
            tuple[Tensor, Tensor]: centroids (N, P, 2) (0 for missing
            parts) and absolute areas (N, P).
        """
        cross, next_xy = self._cross_terms()
        moments = self._sum_per_part(
            (self.vertices + next_xy) * cross.unsqueeze(-1))
        signed = 0.5 * self._sum_per_part(cross)
        sums = self._sum_per_part(self.vertices *
                                  self.vertex_valid.unsqueeze(-1))
        counts = self._sum_per_part(self.vertex_valid.to(self.dtype))
        means = sums / counts.clamp(min=1).unsqueeze(-1)
        safe = torch.where(signed != 0, signed, torch.ones_like(signed))
        centroids = moments / (6 * safe.unsqueeze(-1))
        centroids = torch.where((signed != 0).unsqueeze(-1), centroids, means)
        return centroids, signed.abs()

    def area_centroid(self, largest_only: bool = True) -> Tensor:
        """Area-weighted centroid of each object.

        Args:
            largest_only (bool): If True (official PolarNeXt / PolarMask
                behaviour), the centroid of the largest part. Otherwise the
                area-weighted mean of all part centroids.

        Returns:
            Tensor: Shape (N, 2), (0, 0) for invalid objects. May lie
            outside the object for concave or multi-part shapes.
        """
        centroids, areas = self.part_centroids()
        if largest_only:
            largest = areas.argmax(dim=1)
            rows = torch.arange(len(self), device=self.device)
            return centroids[rows, largest]
        total = areas.sum(dim=1, keepdim=True)
        weights = areas / total.clamp(min=torch.finfo(self.dtype).tiny)
        return (centroids * weights.unsqueeze(-1)).sum(dim=1)

    def edges(self) -> Tuple[Tensor, Tensor]:
        """Edges of all parts, each part closed cyclically.

        Returns:
            tuple[Tensor, Tensor]: ``edges`` (N, E, 4) as (x1, y1, x2, y2)
            with E = V (edge v starts at vertex v; zeros on padding), and
            ``edge_valid`` (N, E) bool.
        """
        _, next_xy = self._cross_terms()
        edges = torch.cat([self.vertices, next_xy], dim=-1)
        valid = self.vertex_valid
        return edges * valid.unsqueeze(-1), valid

    def bboxes(self) -> Tensor:
        """Axis-aligned box over all parts.

        Returns:
            Tensor: Shape (N, 4) as (x1, y1, x2, y2), zeros for invalid
            objects.
        """
        if self.vertices.shape[1] == 0:
            return self.vertices.new_zeros((len(self), 4))
        valid = self.vertex_valid.unsqueeze(-1)
        big = torch.finfo(self.dtype).max
        mins = self.vertices.masked_fill(~valid, big).min(dim=1).values
        maxs = self.vertices.masked_fill(~valid, -big).max(dim=1).values
        boxes = torch.cat([mins, maxs], dim=-1)
        return torch.where(
            self.valid.unsqueeze(-1), boxes, torch.zeros_like(boxes))

    def to_list(self) -> List[List[np.ndarray]]:
        """Back to the raw mmdet form (list of lists of flat arrays).

        Returns:
            list[list[np.ndarray]]: Per object, per part, flat float64
            coordinates. Invalid objects give an empty list.
        """
        vertices = self.vertices.detach().cpu().double().numpy()
        part_ids = self.part_ids.cpu().numpy()
        result = []
        for verts, ids in zip(vertices, part_ids):
            parts = [
                verts[ids == j].reshape(-1)
                for j in range(int(ids.max(initial=-1)) + 1)
            ]
            result.append(parts)
        return result


def _empty_counts() -> Dict[str, int]:
    counts = {reason: 0 for reason in DROP_REASONS}
    counts['duplicate_vertices'] = 0
    return counts


def _sanitize_object(parts: Sequence, counts: Dict[str, int]) -> List:
    """Sanitise all parts of one object; count the object if none is left.

    Args:
        parts (Sequence): Flat coordinate arrays of one object.
        counts (dict[str, int]): Drop counters, updated in place.

    Returns:
        list[np.ndarray]: The valid rings, each (V, 2).
    """
    if isinstance(parts, np.ndarray) and parts.dtype != object \
            and parts.ndim == 1:
        parts = [parts]  # a single flat array instead of a list of parts
    cleaned = [sanitize_part(part, counts) for part in parts]
    rings = [ring for ring in cleaned if ring is not None]
    if not rings:
        counts['no_valid_part'] += 1
    return rings


def _gather_vertices(vertices: Tensor, index: Tensor) -> Tensor:
    """Gather vertices (N, V, 2) along V with a long index (N, V')."""
    return torch.gather(vertices, 1, index.unsqueeze(-1).expand(-1, -1, 2))

