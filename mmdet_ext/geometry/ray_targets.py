"""Polar ray targets: where rays from a point leave its object's polygon.

Conventions (shared with PolarMask / PolarNeXt): ray k has angle
theta_k = 2*pi*k/K, measured from +x towards +y (image y points down, so
angles increase clockwise on screen), direction u_k = (cos, sin). A ray
length d_k gives the vertex p + d_k * u_k.
"""
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .polygon_ops import auto_chunk_size, chunk_slices

RAY_MODES = ('farthest', 'nearest')

# Rounding slack of the edge test, in units of eps * coordinate scale.
EDGE_SLACK_ULPS = 8

# Safety factor of the candidate-ray pruning: the angular span of each
# (point, edge) pair is widened by this many units of its rounding error
# bound, see :func:`_candidate_rays`.
CANDIDATE_MARGIN_ULPS = 64

# Default chunk budgets: (point, edge) pairs per chunk of points, and
# (point, edge, ray) candidates tested at once. On CPU cache-sized pieces
# are fastest; on accelerators larger ones amortise kernel launches.
CPU_PAIR_CHUNK_ELEMENTS = 2**16
PAIR_CHUNK_ELEMENTS = 2**20
CPU_CANDIDATE_ELEMENTS = 2**17
CANDIDATE_ELEMENTS = 2**22


def ray_angles(num_rays: int = 36,
               device: Optional[torch.device] = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """Ray angles theta_k = 2*pi*k/K.

    Args:
        num_rays (int): Number of rays K.
        device (torch.device, optional): Output device.
        dtype (torch.dtype): Output float dtype.

    Returns:
        Tensor: Angles in radians, shape (K,).
    """
    steps = torch.arange(num_rays, device=device, dtype=torch.float64)
    return (steps * (2 * math.pi / num_rays)).to(dtype)


def ray_directions(num_rays: int = 36,
                   device: Optional[torch.device] = None,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Unit ray directions (cos theta_k, sin theta_k).

    Computed in float64 and then cast, so float32 and float64 callers get
    the correctly rounded directions.

    Args:
        num_rays (int): Number of rays K.
        device (torch.device, optional): Output device.
        dtype (torch.dtype): Output float dtype.

    Returns:
        Tensor: Shape (K, 2).
    """
    angles = ray_angles(num_rays, device, torch.float64)
    return torch.stack([angles.cos(), angles.sin()], dim=-1).to(dtype)


class _EdgePlanes(NamedTuple):
    """Per-object edge terms, as contiguous (N, E) planes.

    Attributes:
        start_x, start_y (Tensor): Edge start a.
        delta_x, delta_y (Tensor): d = b - a, zero for invalid edges.
        length (Tensor): |d|.
        safe_length (Tensor): |d|, or 1 where it is 0.
        extent (Tensor): Largest coordinate magnitude of the edge.
        usable (Tensor): Bool, valid edges of positive finite length.
    """
    start_x: Tensor
    start_y: Tensor
    delta_x: Tensor
    delta_y: Tensor
    length: Tensor
    safe_length: Tensor
    extent: Tensor
    usable: Tensor

    @classmethod
    def build(cls, edges: Tensor, edge_valid: Tensor) -> '_EdgePlanes':
        """Split (N, E, 4) edges into planes and precompute their terms."""
        delta = (edges[..., 2:] - edges[..., :2]).masked_fill_(
            ~edge_valid.unsqueeze(-1), 0)
        length = delta.norm(dim=-1)
        positive = length > 0
        safe_length = torch.where(positive, length, torch.ones_like(length))
        extent = edges.abs().amax(-1)
        usable = edge_valid & positive & torch.isfinite(length)
        usable &= torch.isfinite(extent)
        return cls(edges[..., 0].contiguous(), edges[..., 1].contiguous(),
                   delta[..., 0].contiguous(), delta[..., 1].contiguous(),
                   length, safe_length, extent, usable)

    def take(self, objs: Tensor, num_edges: int) -> '_EdgePlanes':
        """Rows ``objs`` (C,), first ``num_edges`` edges: (C, E') planes."""
        return _EdgePlanes(
            *(plane[:, :num_edges].index_select(0, objs) for plane in self))


class _PairTerms(NamedTuple):
    """Ray-independent terms of every (point, edge) pair of a chunk.

    All are flat over the C x E' pairs of the chunk (pair = c * E' + e).
    With w = a - p and d = b - a for point p and edge (a, b):

    Attributes:
        offset_x, offset_y (Tensor): w.
        delta_x, delta_y (Tensor): d, zero for invalid edges.
        w_cross_d (Tensor): cross(w, d), shared by all rays.
        slack (float | Tensor): Slack on the edge parameter s.
        first (Tensor): Long, first candidate ray of the pair, in [0, K).
        count (Tensor): Long, number of candidate rays (first, first + 1,
            ...; indices up to 2K - 2 stand for index - K), in [0, K].
    """
    offset_x: Tensor
    offset_y: Tensor
    delta_x: Tensor
    delta_y: Tensor
    w_cross_d: Tensor
    slack: Union[float, Tensor]
    first: Tensor
    count: Tensor


def _pair_terms(points: Tensor, planes: _EdgePlanes, num_rays: int,
                edge_tol: Optional[float]) -> _PairTerms:
    """Per-pair terms and candidate rays of one chunk of points.

    Args:
        points (Tensor): Ray origins (C, 2).
        planes (_EdgePlanes): Edges of each point's object, (C, E') planes.
        num_rays (int): K.
        edge_tol (float, optional): See :func:`_edge_slack`.

    Returns:
        _PairTerms: Flat (C * E') terms.
    """
    point_x, point_y = points[:, :1], points[:, 1:]
    offset_x = planes.start_x - point_x
    offset_y = planes.start_y - point_y
    w_cross_d = offset_x * planes.delta_y - offset_y * planes.delta_x
    scale = points.abs().amax(-1, keepdim=True) + planes.extent
    slack = _edge_slack(scale, planes.safe_length, edge_tol)
    usable = planes.usable & torch.isfinite(points).all(-1, keepdim=True)
    first, count = _candidate_rays(offset_x, offset_y, planes, w_cross_d,
                                   scale, slack, usable, num_rays)
    if isinstance(slack, Tensor):
        slack = slack.reshape(-1)
    return _PairTerms(offset_x.reshape(-1), offset_y.reshape(-1),
                      planes.delta_x.reshape(-1), planes.delta_y.reshape(-1),
                      w_cross_d.reshape(-1), slack, first.reshape(-1),
                      count.reshape(-1))


def _edge_slack(scale: Tensor, safe_length: Tensor,
                edge_tol: Optional[float]) -> Union[float, Tensor]:
    """Slack on the edge parameter s of each (point, edge) pair.

    With ``edge_tol=None`` the slack is a few units of rounding error: a
    crossing may lie up to ``EDGE_SLACK_ULPS * eps * scale`` past an edge
    end, in image units, where scale is the largest coordinate magnitude of
    the point and the edge (the size of the rounding errors in s * |d|).
    That is ~1e-12 px in float64 and ~1e-3 px in float32 for coordinates
    near 1000, and keeps a ray that passes exactly through a vertex from
    missing both adjacent edges. Zero-length and invalid edges never count,
    so their slack is irrelevant.

    Args:
        scale (Tensor): Coordinate scale of each pair (C, E').
        safe_length (Tensor): Edge lengths |d| (C, E'), 1 where |d| = 0.
        edge_tol (float, optional): Fixed slack on s instead (0 is the
            official rule).

    Returns:
        float | Tensor: A float, or a (C, E') tensor.
    """
    if edge_tol is not None:
        return edge_tol
    eps = torch.finfo(scale.dtype).eps
    return EDGE_SLACK_ULPS * eps * scale / safe_length


def _candidate_rays(offset_x: Tensor, offset_y: Tensor, planes: _EdgePlanes,
                    w_cross_d: Tensor, scale: Tensor,
                    slack: Union[float, Tensor], usable: Tensor,
                    num_rays: int) -> Tuple[Tensor, Tensor]:
    """Rays that may cross each edge: a cyclic range of ray indices.

    Seen from p, the edge (extended by its slack) spans an angle below pi,
    and only rays inside that span can cross it with t >= 0. The span is
    widened so that it contains every ray that the floating-point edge
    test of :func:`_test_candidates` can accept:

    - along the edge by the slack plus a bound of how far rounding can move
      a computed crossing: about ``unit * R / h`` in image units (for s
      near [0, 1]), with ``unit = CANDIDATE_MARGIN_ULPS * eps * scale``,
      R the distance to the farther end point and h the distance from p
      to the edge's line;
    - in angle by ``CANDIDATE_MARGIN_ULPS * eps`` radians (rounding of the
      ray directions, of atan2 and of the index computation).

    Pairs for which that bound exceeds the edge itself (p within about
    ``3 * unit * (1 + R / |d|)`` of the edge's line, e.g. p on the edge or
    at a vertex) get all K rays, so that the exact test decides; unusable
    pairs (invalid, zero-length or non-finite edges, non-finite points)
    get none, as the exact test rejects all their rays anyway.

    Args:
        offset_x, offset_y (Tensor): w = a - p (C, E').
        planes (_EdgePlanes): Edge planes (C, E').
        w_cross_d (Tensor): cross(w, d) (C, E').
        scale (Tensor): Coordinate scale (C, E').
        slack (float | Tensor): Slack on s, float or (C, E').
        usable (Tensor): Bool (C, E').
        num_rays (int): K.

    Returns:
        tuple[Tensor, Tensor]: Long ``first`` in [0, K) and ``count`` in
        [0, K], (C, E'): the candidates are rays (first + j) mod K,
        j < count.
    """
    eps = torch.finfo(offset_x.dtype).eps
    delta_x, delta_y, length = planes.delta_x, planes.delta_y, planes.length
    unit = CANDIDATE_MARGIN_ULPS * eps * scale
    end_x, end_y = offset_x + delta_x, offset_y + delta_y  # b - p
    # An upper bound (by < sqrt(2)) of the distance to the farther end,
    # much cheaper than hypot.
    reach = torch.maximum(offset_x.abs(), end_x.abs()).add_(
        torch.maximum(offset_y.abs(), end_y.abs()))
    tol = slack.clamp(min=0) if isinstance(slack, Tensor) else max(slack, 0.)
    # |cross(w, d)| = h * |d|; the bound in s units (see docstring). It is
    # > 1 (ill) at least whenever h * |d| <= 3 * unit * (R + |d|), which
    # covers every pair whose side of the edge's line is uncertain, and
    # inf or NaN for p on that line and for unusable pairs.
    spread = unit * (reach + (tol + 1) * length) * (tol + 3) / w_cross_d.abs()
    ill = ~(spread <= 1)
    extend = tol + spread
    alpha = torch.atan2(offset_y - extend * delta_y,
                        offset_x - extend * delta_x)
    beta = torch.atan2(end_y + extend * delta_y, end_x + extend * delta_x)
    # cross(w, d) > 0: the span turns from a towards b with growing angle,
    # else from b towards a. Arithmetic on the sign rather than selection
    # on a mask: the orientation is unpredictable, which makes masked
    # selection several times slower on CPU.
    turn = torch.sign(w_cross_d)
    diff = beta - alpha
    width = diff * turn  # in (-2 pi, 2 pi), wrapped to [0, 2 pi)
    width -= (2 * math.pi) * torch.floor(width * (0.5 / math.pi))
    low = alpha + (0.5 - 0.5 * turn) * diff
    inv_step = num_rays / (2 * math.pi)
    margin = CANDIDATE_MARGIN_ULPS * eps
    first = torch.ceil((low - margin) * inv_step)
    count = torch.floor((low + width + margin) * inv_step) - first + 1
    count = count.clamp_(0, num_rays).masked_fill_(ill, num_rays)
    first = torch.remainder(first, num_rays).masked_fill_(ill, 0)
    # Unusable pairs may hold NaN here; they get no candidates.
    blank = ~usable
    count = count.masked_fill_(blank, 0).long()
    first = first.masked_fill_(blank, 0).long()
    return first, count


def _candidate_pieces(ends: Tensor,
                      budget: int) -> List[Tuple[slice, int, int]]:
    """Split the pairs into consecutive pieces of about ``budget`` rays.

    Args:
        ends (Tensor): Long (M,), inclusive cumulative sum of the candidate
            count of each pair (counts are <= K).
        budget (int): Candidates per piece; a piece may exceed it by less
            than K.

    Returns:
        list[tuple[slice, int, int]]: Per piece, its pairs and the range
        [start, stop) of its candidates; empty if there are none.
    """
    total = int(ends[-1]) if ends.numel() else 0
    if total == 0:
        return []
    if total <= budget:
        return [(slice(0, ends.numel()), 0, total)]
    marks = torch.arange(
        budget, total, budget, device=ends.device, dtype=ends.dtype)
    bounds = torch.searchsorted(ends, marks, right=True).tolist()
    bounds = [0] + bounds + [ends.numel()]
    stops = ends[torch.tensor(bounds[1:], device=ends.device) - 1].tolist()
    pieces, start = [], 0
    for lo, hi, stop in zip(bounds[:-1], bounds[1:], stops):
        if stop > start:
            pieces.append((slice(lo, hi), start, stop))
        start = stop
    return pieces


def _expand_candidates(count: Tensor, ray_base: Tensor, slot_base: Tensor,
                       piece: Tuple[slice, int, int]
                       ) -> Tuple[Tensor, Tensor, Tensor]:
    """Pair, ray and output slot of every candidate of a piece of pairs.

    Candidate j (numbered over the whole chunk) of a pair whose candidates
    start at number n is ray ``first + j - n`` of that pair, so ray and
    slot are ``base[pair] + j`` with per-pair bases.

    Args:
        count (Tensor): Long (M,) candidates per pair.
        ray_base (Tensor): Long (M,), first - n per pair.
        slot_base (Tensor): Long (M,), ray_base + point * 2K per pair.
        piece (tuple[slice, int, int]): Pairs and candidate range.

    Returns:
        tuple[Tensor, Tensor, Tensor]: Long (H,) ``pair`` (index into the
        chunk's pairs), ``ray`` in [0, 2K) (ray ``ray mod K``) and ``slot``
        = point * 2K + ray.
    """
    pairs, start, stop = piece
    local = torch.repeat_interleave(count[pairs], output_size=stop - start)
    steps = torch.arange(start, stop, device=count.device)
    ray = ray_base[pairs].index_select(0, local).add_(steps)
    slot = slot_base[pairs].index_select(0, local).add_(steps)
    return local.add_(pairs.start), ray, slot


def _test_candidates(terms: _PairTerms, pair: Tensor, ray: Tensor,
                     directions: Tensor) -> Tuple[Tensor, Tensor]:
    """The official crossing test of candidate (point, edge, ray) triples.

    Ray p + t*u against edge a + s*(b - a): with w = a - p, d = b - a and
    cross(x, y) = x_x*y_y - x_y*y_x, the crossing is at
    t = cross(w, d) / cross(u, d) and s = cross(w, u) / cross(u, d). This
    is exactly the official determinant formula (its "den" is
    cross(u, d)), only regrouped so that cross(w, d) is shared by all rays.
    Parallel edges (den == 0) are never counted without a separate test:
    there s is +-inf or NaN, and both fail the range test.

    Args:
        terms (_PairTerms): Terms of the chunk.
        pair (Tensor): Long (H,) pair of each candidate.
        ray (Tensor): Long (H,) ray of each candidate, in [0, 2K).
        directions (Tensor): Unit directions, repeated twice (2K, 2).

    Returns:
        tuple[Tensor, Tensor]: ``t`` (H,) and ``hit`` (H,) bool.
    """
    ux = directions[:, 0].index_select(0, ray)
    uy = directions[:, 1].index_select(0, ray)
    den = terms.delta_y.index_select(0, pair).mul_(ux)
    den.sub_(terms.delta_x.index_select(0, pair).mul_(uy))
    s = terms.offset_x.index_select(0, pair).mul_(uy)
    s.sub_(terms.offset_y.index_select(0, pair).mul_(ux)).div_(den)
    t = terms.w_cross_d.index_select(0, pair).div_(den)
    slack = terms.slack
    if isinstance(slack, Tensor):
        slack = slack.index_select(0, pair)
    hit = s >= -slack
    hit &= s <= 1 + slack
    hit &= t >= 0.0
    return t, hit


def _ray_lengths_chunk(points: Tensor, planes: _EdgePlanes,
                       num_valid: Tensor, directions: Tensor, mode: str,
                       miss_value: float, edge_tol: Optional[float],
                       budget: int) -> Tensor:
    """Ray lengths for one chunk of points, each with its own edges.

    Only the candidate rays of each (point, edge) pair (those inside the
    edge's angular span, see :func:`_candidate_rays`) are tested, which
    gives the same crossings as testing all K rays against all edges.

    Args:
        points (Tensor): Ray origins (C, 2).
        planes (_EdgePlanes): Edges of each point's object, (C, E') planes.
        num_valid (Tensor): Long (C,), valid edges of each point's object.
        directions (Tensor): Unit directions, repeated twice (2K, 2).
        mode (str): 'farthest' or 'nearest'.
        miss_value (float): Length of a ray that crosses no edge.
        edge_tol (float, optional): Slack on the edge parameter s, see
            :func:`_edge_slack`.
        budget (int): Candidates tested at once.

    Returns:
        Tensor: Ray lengths (C, K), possibly +inf for pathological
        near-parallel overflow (the caller replaces non-finite values).
    """
    num_points, num_edges = planes.start_x.shape
    num_rays = directions.shape[0] // 2
    terms = _pair_terms(points, planes, num_rays, edge_tol)
    ends = terms.count.cumsum(0)
    ray_base = terms.first - (ends - terms.count)
    rows = torch.arange(
        0, num_points * 2 * num_rays, 2 * num_rays, device=points.device)
    slot_base = (ray_base.view(num_points, num_edges) +
                 rows.unsqueeze(1)).view(-1)
    farthest = mode == 'farthest'
    fill = -math.inf if farthest else math.inf
    # Two slots per ray (index k and k + K), folded at the end, so that
    # candidate ranges never wrap around.
    best = points.new_full((num_points * 2 * num_rays, ), fill)
    low_hits = torch.zeros_like(best, dtype=torch.long)
    for piece in _candidate_pieces(ends, budget):
        pair, ray, slot = _expand_candidates(terms.count, ray_base,
                                             slot_base, piece)
        t, hit = _test_candidates(terms, pair, ray, directions)
        best.scatter_reduce_(0, slot, t.masked_fill(~hit, fill),
                             'amax' if farthest else 'amin')
        if farthest:
            low = hit & (t < miss_value)
            if bool(low.any()):
                low_hits.index_add_(0, slot, low.long())
    best = best.view(num_points, 2, num_rays)
    if not farthest:
        best = best.amin(dim=1)
        return torch.where(
            torch.isinf(best), miss_value, best.clamp(min=miss_value))
    best = best.amax(dim=1)
    # Official: non-crossings count as miss_value in the max over edges, so
    # the result only drops below miss_value if every valid edge is
    # crossed, and then all crossings are below miss_value.
    low_hits = low_hits.view(num_points, 2, num_rays).sum(dim=1)
    every = (low_hits == num_valid.unsqueeze(1)) & (num_valid > 0).unsqueeze(1)
    return torch.where(every, best, best.clamp(min=miss_value))


def polar_ray_targets(points: Tensor,
                      edges: Tensor,
                      edge_valid: Tensor,
                      obj_inds: Tensor,
                      num_rays: int = 36,
                      mode: str = 'farthest',
                      miss_value: float = 0.01,
                      chunk_size: Optional[int] = None,
                      edge_tol: Optional[float] = None) -> Tensor:
    """Length of K rays from each point to the boundary of its object.

    For point p (of object ``obj_inds[p]``) and ray k, every valid edge of
    the object (all parts) is intersected with the ray; a crossing counts
    if the ray parameter t >= 0, the edge parameter s is in [0, 1] and the
    edge is not parallel to the ray. Then, as in PolarNeXt
    (``matrix_get_n_coordinates``):

    - ``'farthest'`` (official): max over edges of (t if it counts else
      ``miss_value``), i.e. the farthest crossing, never below
      ``miss_value`` unless every valid edge of the object counts;
      ``miss_value`` if nothing counts.
    - ``'nearest'``: the nearest counting crossing (the first exit of the
      ray, which follows concave boundaries exactly when the point is
      inside), clamped to at least ``miss_value``; ``miss_value`` if
      nothing counts.

    Differences from the official code: by default the edge test allows
    a few units of rounding error (``edge_tol=None``, see
    :func:`_edge_slack`), so a ray that passes exactly through a vertex
    does not miss both adjacent edges by rounding (with the exact rule,
    ~4% of the vertex rays of random regular polygons miss); a length that
    overflows to inf (edge almost parallel to the ray) becomes
    ``miss_value``, so no NaN/inf is ever returned; and there is no Python
    loop over objects.

    Speed: instead of testing all K x E (ray, edge) pairs of a point, each
    edge is tested only against the rays inside its angular span seen from
    the point (widened by a rounding-error bound, see
    :func:`_candidate_rays`), so a ray meets a few candidate edges instead
    of E (7.6 of 200 in ``benchmark_polar_core.py``). The test itself is
    the same floating-point expression as the dense test of every pair,
    so the crossings, hence the lengths, are identical to it.

    Memory: points are processed in chunks of ``chunk_size``, sorted by
    their object's edge count (so short polygons are not padded to the
    longest one). A chunk holds about 20 (chunk_size, E') pair temporaries,
    E' <= E being the largest valid edge count among its objects; by
    default chunk_size * E' is about 2**16 on CPU and 2**20 elsewhere. The
    candidate (point, edge, ray) triples are then tested in pieces of about
    2**17 (CPU) or 2**22 triples with ~8 temporaries each, so the peak
    extra memory is bounded (~0.3 GB float32 on GPU in the worst case)
    whatever P, E and the geometry are.

    Args:
        points (Tensor): Ray origins (P, 2).
        edges (Tensor): Edges (N, E, 4) as (x1, y1, x2, y2), valid edges
            first in each row (as from ``PolygonTensor.edges()``).
        edge_valid (Tensor): Bool (N, E).
        obj_inds (Tensor): Long (P,), object of each point, in [0, N).
        num_rays (int): Number of rays K. Defaults to 36.
        mode (str): 'farthest' (official) or 'nearest'.
        miss_value (float): Length of rays that cross nothing (and the
            floor of all lengths). Defaults to 0.01.
        chunk_size (int, optional): Points per chunk; see above.
        edge_tol (float, optional): None (default) for a rounding-level
            slack on the edge parameter s; a float accepts
            s in [-edge_tol, 1 + edge_tol] instead (0.0 is the official
            rule).

    Returns:
        Tensor: Ray lengths (P, K), dtype of ``points``, all finite. In
        'nearest' mode all are >= miss_value; in 'farthest' mode too,
        unless every edge of the object is crossed by the ray. Points or
        edges with non-finite coordinates never cross.
    """
    if mode not in RAY_MODES:
        raise ValueError(f'mode must be one of {RAY_MODES}, got {mode!r}')
    num_points = points.shape[0]
    result = points.new_full((num_points, num_rays), miss_value)
    if num_points == 0 or edges.shape[1] == 0:
        return result
    obj_inds = obj_inds.long()
    planes = _EdgePlanes.build(edges.to(points.dtype), edge_valid.bool())
    directions = ray_directions(num_rays, points.device,
                                points.dtype).repeat(2, 1)
    edge_counts = _valid_prefix_lengths(edge_valid)[obj_inds]
    num_valid = edge_valid.sum(dim=1)[obj_inds]
    order = torch.argsort(edge_counts)
    on_cpu = points.device.type == 'cpu'
    pair_budget = CPU_PAIR_CHUNK_ELEMENTS if on_cpu else PAIR_CHUNK_ELEMENTS
    budget = CPU_CANDIDATE_ELEMENTS if on_cpu else CANDIDATE_ELEMENTS
    chunk = auto_chunk_size(chunk_size, max(1, int(edge_counts.max())),
                            pair_budget)
    for part in chunk_slices(num_points, chunk):
        inds = order[part]
        num_edges = int(edge_counts[inds[-1]])  # sorted: the chunk's max
        if num_edges == 0:
            continue
        result[inds] = _ray_lengths_chunk(points[inds],
                                          planes.take(obj_inds[inds],
                                                      num_edges),
                                          num_valid[inds], directions, mode,
                                          miss_value, edge_tol, budget)
    # Only an overflowing t (edge almost parallel to the ray) can be
    # non-finite; treat it as a miss rather than emitting inf.
    return torch.where(torch.isfinite(result), result, miss_value)


def _valid_prefix_lengths(edge_valid: Tensor) -> Tensor:
    """Smallest E' per row such that all valid edges lie in [:E'].

    Args:
        edge_valid (Tensor): Bool (N, E).

    Returns:
        Tensor: Long (N,).
    """
    positions = torch.arange(
        1, edge_valid.shape[1] + 1, device=edge_valid.device)
    return (positions * edge_valid).amax(dim=1) if edge_valid.shape[1] \
        else edge_valid.new_zeros(edge_valid.shape[0], dtype=torch.long)


def decode_rays(points: Tensor,
                rays: Tensor,
                max_shape: Optional[Sequence[int]] = None) -> Tensor:
    """Polygon vertices p + d_k * u_k from ray lengths.

    Args:
        points (Tensor): Ray origins (P, 2).
        rays (Tensor): Ray lengths (P, K).
        max_shape (Sequence[int], optional): (H, W, ...) of the image; if
            given, x is clipped to [0, W] and y to [0, H], the image extent
            in the pixel-edge convention of pycocotools, which draws the
            masks (the official [0, W - 1] clip of cv2's pixel-centre
            convention loses the last column and row).

    Returns:
        Tensor: Vertices (P, K, 2).
    """
    directions = ray_directions(rays.shape[-1], rays.device, rays.dtype)
    vertices = points.unsqueeze(-2) + rays.unsqueeze(-1) * directions
    if max_shape is not None:
        height, width = max_shape[0], max_shape[1]
        vertices = torch.stack([
            vertices[..., 0].clamp(0, width), vertices[..., 1].clamp(
                0, height)
        ],
                               dim=-1)
    return vertices

