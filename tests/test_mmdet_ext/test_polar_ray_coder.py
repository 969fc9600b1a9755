"""Tests for mmdet_ext.task_modules.PolarRayCoder."""
import math

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet.registry')

from mmdet.models.task_modules.coders.base_bbox_coder import \
    BaseBBoxCoder  # noqa: E402
from mmdet.registry import TASK_UTILS  # noqa: E402

from helpers.shapes import regular_polygon  # noqa: E402
from mmdet_ext.geometry.polygon_ops import boundary_distances  # noqa: E402
from mmdet_ext.structures.polygons import PolygonTensor  # noqa: E402
from mmdet_ext.task_modules import PolarRayCoder  # noqa: E402

SQUARE = np.array([0, 0, 10, 0, 10, 10, 0, 10], dtype=np.float64)


def build(**kwargs) -> PolarRayCoder:
    return TASK_UTILS.build(dict(type='PolarRayCoder', **kwargs))


def test_registered_and_configured():
    coder = build(num_rays=18, mode='nearest', miss_value=0.5, chunk_size=7)
    assert isinstance(coder, PolarRayCoder)
    assert isinstance(coder, BaseBBoxCoder)
    assert coder.encode_size == 18
    assert (coder.num_rays, coder.mode, coder.miss_value,
            coder.chunk_size) == (18, 'nearest', 0.5, 7)
    assert 'num_rays=18' in repr(coder)
    default = build()
    assert (default.num_rays, default.mode, default.miss_value) == \
        (36, 'farthest', 0.01)


@pytest.mark.parametrize('kwargs', [
    dict(num_rays=2),
    dict(mode='middle'),
    dict(miss_value=0.0),
    dict(use_box_type=True),
])
def test_rejects_bad_config(kwargs):
    with pytest.raises(ValueError):
        PolarRayCoder(**kwargs)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_angles_are_made_on_demand(dtype):
    coder = PolarRayCoder(num_rays=36)
    angles = coder.angles(torch.device('cpu'), dtype)
    assert angles.dtype == dtype and angles.shape == (36, )
    assert math.isclose(float(angles[9]), math.pi / 2, rel_tol=1e-6)
    dirs = coder.directions(dtype=dtype)
    assert dirs.shape == (36, 2)
    torch.testing.assert_close(dirs.norm(dim=1), torch.ones(36, dtype=dtype))
    # Nothing tensor-valued is stored at construction.
    assert not any(isinstance(v, torch.Tensor) for v in vars(coder).values())


def test_encode_accepts_polygons_edges_and_tuples():
    polys = PolygonTensor.from_polygon_masks(
        [[SQUARE], [regular_polygon(8, 20.0, (50, 50))]], dtype=torch.float64)
    points = torch.tensor([[5., 5.], [50., 50.], [2., 3.]],
                          dtype=torch.float64)
    obj_inds = torch.tensor([0, 1, 0])
    coder = PolarRayCoder(num_rays=8)
    rays = coder.encode(points, polys, obj_inds)
    assert rays.shape == (3, 8)
    diag = 5 * math.sqrt(2)
    torch.testing.assert_close(
        rays[0], torch.tensor([5, diag, 5, diag] * 2, dtype=torch.float64))
    edges, valid = polys.edges()
    assert torch.equal(coder.encode(points, (edges, valid), obj_inds), rays)
    # Zero-padded edges are harmless without an explicit mask.
    assert torch.equal(coder.encode(points, edges, obj_inds), rays)
    # One point per object without obj_inds.
    assert torch.equal(coder.encode(points[:2], polys), rays[:2])
    with pytest.raises(ValueError):
        coder.encode(points, polys)


def test_decode_inverts_encode_on_a_convex_polygon():
    polys = PolygonTensor.from_polygon_masks(
        [[regular_polygon(11, 40.0, (100, 80), 0.2)]])
    coder = PolarRayCoder()
    points = torch.tensor([[95., 85.]])
    obj = torch.zeros(1, dtype=torch.long)
    verts = coder.decode(points, coder.encode(points, polys, obj))
    assert verts.shape == (1, 36, 2)
    edges, valid = polys.edges()
    dist = boundary_distances(verts[0], edges, valid,
                              torch.zeros(36, dtype=torch.long))
    assert dist.max() < 1e-3
    clipped = coder.decode(
        points, torch.full((1, 36), 500.), max_shape=(120, 150))
    assert clipped[..., 0].max() == 150 and clipped[..., 1].max() == 120
    assert clipped.min() == 0
    with pytest.raises(ValueError):
        coder.decode(points, torch.ones(1, 8))
