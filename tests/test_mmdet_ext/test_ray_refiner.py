"""RayRefiner: where it samples, that it starts as the identity, that it can
learn to move rays onto an edge it sees."""
import math

import pytest
import torch

from mmdet_ext.models.layers import RayRefiner

STRIDE = 4
SIZE = 64  # feature map of 64 x 64 at stride 4: a 256 px image


def _coordinate_map():
    """Two channels holding the input-pixel x and y of each cell's centre."""
    centres = (torch.arange(SIZE, dtype=torch.float32) + 0.5) * STRIDE
    ys, xs = torch.meshgrid(centres, centres, indexing='ij')
    return torch.stack([xs, ys])[None]


def test_samples_the_map_at_the_fractions_of_each_ray():
    refiner = RayRefiner(in_channels=2, num_rays=4, radii=(0.5, 1.0))
    points = torch.tensor([[100.0, 120.0]])
    rays = torch.tensor([[40.0, 20.0, 10.0, 30.0]])
    samples = refiner._sample(_coordinate_map(), STRIDE, points, rays,
                              torch.zeros(1, dtype=torch.long))
    # (n, C * R, K): channel x at radius 0.5, x at 1.0, y at 0.5, y at 1.0.
    assert samples.shape == (1, 4, 4)
    angles = torch.arange(4) * math.pi / 2
    for r_index, radius in enumerate((0.5, 1.0)):
        x = 100 + radius * rays[0] * torch.cos(angles)
        y = 120 + radius * rays[0] * torch.sin(angles)
        torch.testing.assert_close(samples[0, r_index], x, atol=1e-3,
                                   rtol=0)
        torch.testing.assert_close(samples[0, 2 + r_index], y, atol=1e-3,
                                   rtol=0)


def test_each_polygon_reads_its_own_image():
    feats = torch.cat([torch.zeros(1, 1, SIZE, SIZE),
                       torch.ones(1, 1, SIZE, SIZE)])
    refiner = RayRefiner(in_channels=1, num_rays=8, radii=(1.0, ))
    samples = refiner._sample(feats, STRIDE, torch.full((3, 2), 128.0),
                              torch.full((3, 8), 20.0),
                              torch.tensor([1, 0, 1]))
    assert samples[:, 0].mean(-1).tolist() == [1.0, 0.0, 1.0]


def test_untrained_step_keeps_the_rays_and_empty_input_is_defined():
    refiner = RayRefiner(in_channels=3, num_rays=36)
    feats = torch.rand(2, 3, SIZE, SIZE)
    rays = torch.rand(5, 36) * 30 + 1
    refined, quality = refiner(feats, STRIDE, torch.rand(5, 2) * 200, rays,
                               torch.tensor([0, 1, 1, 0, 1]))
    torch.testing.assert_close(refined, rays)
    assert quality.shape == (5, ) and (quality == 0).all()
    refined, quality = refiner(feats, STRIDE, torch.zeros(0, 2),
                               torch.zeros(0, 36), torch.zeros(0).long())
    assert refined.shape == (0, 36) and quality.shape == (0, )
    refined.sum().backward()  # keeps the parameters in the graph
    refined, quality = RayRefiner(in_channels=3, num_rays=36,
                                  with_quality=False)(
                                      feats, STRIDE, torch.rand(5, 2) * 200,
                                      rays, torch.tensor([0, 1, 1, 0, 1]))
    assert quality is None and refined.shape == (5, 36)


@pytest.mark.parametrize('kernel_size, radii', [(4, (1.0, )), (3, ())])
def test_bad_options_are_refused(kernel_size, radii):
    with pytest.raises(ValueError):
        RayRefiner(in_channels=1, num_rays=8, kernel_size=kernel_size,
                   radii=radii)


def test_learns_to_move_the_rays_onto_the_edge_it_sees():
    # The map is 1 inside a disc of radius 60 px and 0 outside; polygons
    # start at 0.5-1.6x that radius from origins near its centre.
    torch.manual_seed(0)
    centres = (torch.arange(SIZE, dtype=torch.float32) + 0.5) * STRIDE
    ys, xs = torch.meshgrid(centres, centres, indexing='ij')
    disc = (((xs - 128)**2 + (ys - 128)**2) < 60**2).float()[None, None]
    refiner = RayRefiner(in_channels=1, num_rays=16, hidden_channels=32)
    optimizer = torch.optim.Adam(refiner.parameters(), lr=3e-3)

    def batch(n=32):
        points = 128 + (torch.rand(n, 2) - 0.5) * 10
        rays = 60 * (0.5 + 1.1 * torch.rand(n, 1)) * (
            1 + 0.1 * torch.randn(n, 16)).clamp(min=0.5)
        # Ray targets: where the ray from the point leaves the disc.
        directions = torch.stack([torch.cos(torch.arange(16) * math.pi / 8),
                                  torch.sin(torch.arange(16) * math.pi / 8)],
                                 dim=-1)
        offset = points - 128
        b = (offset[:, None] * directions[None]).sum(-1)
        c = (offset**2).sum(-1, keepdim=True) - 60**2
        targets = -b + (b**2 - c).sqrt()
        return points, rays, targets

    def error(rays, targets):
        return (rays.log() - targets.log()).abs().mean().item()

    points, rays, targets = batch(64)
    zeros = torch.zeros(64, dtype=torch.long)
    before = error(rays, targets)
    for _ in range(300):
        p, r, t = batch()
        refined, _ = refiner(disc, STRIDE, p, r, torch.zeros(32).long())
        loss = (refined.log() - t.log()).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        refined, _ = refiner(disc, STRIDE, points, rays, zeros)
    # One step moves a ray by at most e^1: the error must fall well below
    # the start (about 0.3) and below what the bound alone would allow.
    assert error(refined, targets) < 0.35 * before
