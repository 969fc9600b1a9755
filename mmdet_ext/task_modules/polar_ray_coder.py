"""Coder between instance polygons and polar ray lengths."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmdet.models.task_modules.coders.base_bbox_coder import BaseBBoxCoder
from mmdet.registry import TASK_UTILS
from torch import Tensor

from mmdet_ext.geometry.ray_targets import (RAY_MODES, decode_rays,
                                            polar_ray_targets, ray_angles,
                                            ray_directions)
from mmdet_ext.structures.polygons import PolygonTensor

EdgesLike = Union[PolygonTensor, Tensor, Tuple[Tensor, Tensor]]


@TASK_UTILS.register_module()
class PolarRayCoder(BaseBBoxCoder):
    """Encode polygons as K ray lengths from a point, and decode them back.

    Ray k points at angle 2*pi*k/K from +x towards +y (image y down). The
    encoding is :func:`~mmdet_ext.geometry.polar_ray_targets` (official
    PolarNeXt semantics with ``mode='farthest'``); decoding places vertex k
    at p + d_k * (cos, sin).

    Nothing is allocated at construction: :meth:`angles` and
    :meth:`directions` are built on demand on the caller's device, so the
    coder works on CPU and follows the data to any device.

    Args:
        num_rays (int): Number of rays K. Defaults to 36.
        mode (str): 'farthest' (official) or 'nearest' crossing.
        miss_value (float): Length of rays that miss the polygon (and the
            floor of all lengths). Defaults to 0.01.
        chunk_size (int, optional): Points per chunk when encoding; None
            picks a memory-bounded size.
        edge_tol (float, optional): Slack on the edge parameter; None
            (default) allows rounding error only, 0.0 is the exact official
            rule. See :func:`~mmdet_ext.geometry.polar_ray_targets`.
        use_box_type (bool): Kept for ``BaseBBoxCoder`` compatibility;
            rays are not boxes, so it must stay False.
    """

    def __init__(self,
                 num_rays: int = 36,
                 mode: str = 'farthest',
                 miss_value: float = 0.01,
                 chunk_size: Optional[int] = None,
                 edge_tol: Optional[float] = None,
                 use_box_type: bool = False,
                 **kwargs) -> None:
        if use_box_type:
            raise ValueError('PolarRayCoder does not produce box types')
        super().__init__(use_box_type=use_box_type, **kwargs)
        if num_rays < 3:
            raise ValueError(f'num_rays must be >= 3, got {num_rays}')
        if mode not in RAY_MODES:
            raise ValueError(f'mode must be one of {RAY_MODES}, got {mode!r}')
        if not miss_value > 0:
            raise ValueError(f'miss_value must be > 0, got {miss_value}')
        self.num_rays = num_rays
        self.mode = mode
        self.miss_value = miss_value
        self.chunk_size = chunk_size
        self.edge_tol = edge_tol
        # Heads read ``encode_size`` for the regression channel count.
        self.encode_size = num_rays

    def angles(self,
               device: Optional[torch.device] = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
        """Ray angles 2*pi*k/K on the requested device.

        Args:
            device (torch.device, optional): Output device.
            dtype (torch.dtype): Output dtype.

        Returns:
            Tensor: Shape (K,).
        """
        return ray_angles(self.num_rays, device, dtype)

    def directions(self,
                   device: Optional[torch.device] = None,
                   dtype: torch.dtype = torch.float32) -> Tensor:
        """Unit ray directions on the requested device.

        Args:
            device (torch.device, optional): Output device.
            dtype (torch.dtype): Output dtype.

        Returns:
            Tensor: Shape (K, 2) as (cos, sin).
        """
        return ray_directions(self.num_rays, device, dtype)

    def encode(self,
               points: Tensor,
               polygons: EdgesLike,
               obj_inds: Optional[Tensor] = None,
               edge_valid: Optional[Tensor] = None) -> Tensor:
        """Ray lengths from each point to its object's boundary.

        Args:
            points (Tensor): Ray origins (P, 2) (the ``bboxes`` argument of
                ``BaseBBoxCoder.encode``).
            polygons (PolygonTensor | Tensor | tuple[Tensor, Tensor]): The
                N objects: a :class:`PolygonTensor` (all its parts are
                used), an edge tensor (N, E, 4), or ``(edges,
                edge_valid)`` as returned by ``PolygonTensor.edges()``.
            obj_inds (Tensor, optional): Long (P,), object of each point.
                If None, P must equal N and point i belongs to object i.
            edge_valid (Tensor, optional): Bool (N, E) for a bare edge
                tensor. If None, all edges count; zero-padded edges are
                harmless because a zero-length edge is never crossed.

        Returns:
            Tensor: Ray lengths (P, K).
        """
        edges, edge_valid = self._as_edges(polygons, edge_valid)
        if obj_inds is None:
            if points.shape[0] != edges.shape[0]:
                raise ValueError(
                    'obj_inds is required when the number of points '
                    f'({points.shape[0]}) differs from the number of '
                    f'objects ({edges.shape[0]})')
            obj_inds = torch.arange(points.shape[0], device=points.device)
        return polar_ray_targets(
            points,
            edges.to(points.device),
            edge_valid.to(points.device),
            obj_inds,
            num_rays=self.num_rays,
            mode=self.mode,
            miss_value=self.miss_value,
            chunk_size=self.chunk_size,
            edge_tol=self.edge_tol)

    def decode(self,
               points: Tensor,
               rays: Tensor,
               max_shape: Optional[Sequence[int]] = None) -> Tensor:
        """Polygon vertices from ray lengths.

        Args:
            points (Tensor): Ray origins (P, 2).
            rays (Tensor): Ray lengths (P, K).
            max_shape (Sequence[int], optional): (H, W) to clip x to
                [0, W] and y to [0, H] (see :func:`decode_rays`).

        Returns:
            Tensor: Vertices (P, K, 2).
        """
        if rays.shape[-1] != self.num_rays:
            raise ValueError(f'expected {self.num_rays} rays, got '
                             f'{rays.shape[-1]}')
        return decode_rays(points, rays, max_shape)

    @staticmethod
    def _as_edges(polygons: EdgesLike,
                  edge_valid: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Normalise the accepted polygon inputs to (edges, edge_valid)."""
        if isinstance(polygons, PolygonTensor):
            return polygons.edges()
        if isinstance(polygons, (tuple, list)):
            edges, edge_valid = polygons
        else:
            edges = polygons
        if edge_valid is None:
            edge_valid = torch.ones(
                edges.shape[:2], dtype=torch.bool, device=edges.device)
        return edges, edge_valid.bool()

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_rays={self.num_rays}, '
                f'mode={self.mode!r}, miss_value={self.miss_value}, '
                f'chunk_size={self.chunk_size}, edge_tol={self.edge_tol})')
