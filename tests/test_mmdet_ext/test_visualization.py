"""mmdet_ext.visualization: polygon outlines, rays and origins on a
visualiser image, and PolarDetVisualizer on predictions and GT."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmengine.visualization import Visualizer

from mmdet.structures import DetDataSample
from mmdet_ext.visualization import (PolarDetVisualizer, draw_origins,
                                     draw_polygon_outlines, draw_rays,
                                     label_colors, object_rings)

H, W = 120, 160
RED, GREEN = (255, 0, 0), (0, 255, 0)


@pytest.fixture
def canvas():
    visualizer = Visualizer(name='test_polar_drawing')
    visualizer.set_image(np.zeros((H, W, 3), dtype=np.uint8))
    return visualizer


def _square(x0, y0, side):
    return np.array([[x0, y0], [x0 + side, y0], [x0 + side, y0 + side],
                     [x0, y0 + side]], dtype=np.float64)


def test_object_rings_normalises_every_form():
    dense = object_rings(torch.zeros(2, 36, 2))
    assert len(dense) == 2 and dense[0][0].shape == (36, 2)
    flat = [10., 10., 20., 10., 20., 20.]
    nested = object_rings([[np.array(flat), np.array(flat[:5])],
                           np.array(flat), [], [_square(0, 0, 4)]])
    # the odd-length part is dropped, the empty object keeps its slot
    assert [len(parts) for parts in nested] == [1, 1, 0, 1]
    assert nested[0][0].tolist() == [[10, 10], [20, 10], [20, 20]]
    bad = object_rings([[np.array([[0., 0.], [np.nan, 1.], [2., 2.]])]])
    assert bad == [[]]
    with pytest.raises(ValueError, match=r'\(N, K, 2\)'):
        object_rings(np.zeros((3, 4)))


def test_label_colors_wrap_around_palette():
    colors = label_colors(torch.tensor([0, 1, 3]), [RED, GREEN])
    assert colors == [RED, GREEN, GREEN]
    with pytest.raises(ValueError):
        label_colors([0], [])


def test_outline_draws_edges_not_interior(canvas):
    drawn = draw_polygon_outlines(canvas, [[_square(40, 30, 60)]], [RED],
                                  line_width=2)
    image = canvas.get_image()
    assert drawn == 1
    # middle of the top edge is red, the centre of the square untouched
    assert image[30, 70, 0] > 150 and image[30, 70, 1] < 100
    assert image[60, 70].sum() == 0
    assert image[5, 5].sum() == 0
    with pytest.raises(ValueError, match='colours'):
        draw_polygon_outlines(canvas, [[_square(0, 0, 5)]], [RED, GREEN])


def test_rays_go_from_origin_to_ends(canvas):
    origins = np.array([[80., 60.]])
    ends = np.array([[[120., 60.], [80., 100.], [np.nan, 0.]]])
    drawn = draw_rays(canvas, origins, ends, [GREEN], line_width=2)
    image = canvas.get_image()
    assert drawn == 2  # the non-finite end is skipped
    assert image[60, 100, 1] > 150  # on the +x ray
    assert image[80, 80, 1] > 150  # on the +y ray
    assert image[40, 80].sum() == 0  # no ray upwards
    with pytest.raises(ValueError, match='ray_ends'):
        draw_rays(canvas, origins, np.zeros((2, 3, 2)), [GREEN])


def test_origins_are_dots(canvas):
    drawn = draw_origins(canvas, torch.tensor([[30., 30.], [np.inf, 1.]]),
                         [RED, GREEN], radius=4)
    image = canvas.get_image()
    assert drawn == 1
    assert image[30, 30, 0] > 150
    assert image[30, 60].sum() == 0


def _pred_sample(with_origins=True):
    angles = torch.arange(8) * (2 * np.pi / 8)
    directions = torch.stack([angles.cos(), angles.sin()], -1)
    origins = torch.tensor([[50., 60.], [115., 60.]])
    polygons = origins[:, None] + 25 * directions
    pred = InstanceData(
        scores=torch.tensor([0.9, 0.8]),
        labels=torch.tensor([0, 1]),
        bboxes=torch.cat([polygons.min(1).values,
                          polygons.max(1).values], -1),
        polygons=polygons)
    if with_origins:
        pred.origins = origins
    sample = DetDataSample()
    sample.pred_instances = pred
    return sample


def _draw(visualizer, sample):
    image = np.zeros((H, W, 3), dtype=np.uint8)
    visualizer.add_datasample(
        'x', image, sample, draw_gt=False, pred_score_thr=0.5)
    return visualizer.get_image()


def test_polar_visualizer_draws_rays_of_predictions():
    meta = dict(classes=('a', 'b'), palette=[RED, GREEN])
    plain = PolarDetVisualizer(name='test_polar_plain', draw_polygons=False)
    plain.dataset_meta = meta
    rays = PolarDetVisualizer(name='test_polar_rays', draw_rays=True)
    rays.dataset_meta = meta
    base, drawn = _draw(plain, _pred_sample()), _draw(rays, _pred_sample())
    assert drawn.shape == base.shape == (H, W, 3)
    # the ray along +x of object 0 passes (62, 60), inside the box
    assert base[60, 62].sum() == 0 and drawn[60, 62, 0] > 150
    # object 1's ray along +y passes (115, 72), drawn in its class colour
    assert drawn[72, 115, 1] > 150 and drawn[72, 115, 0] < 100
    assert rays.missing_fields == []


def test_polar_visualizer_notes_missing_origins():
    visualizer = PolarDetVisualizer(name='test_polar_missing',
                                    draw_rays=True)
    visualizer.dataset_meta = dict(classes=('a', 'b'))
    _draw(visualizer, _pred_sample(with_origins=False))
    assert visualizer.missing_fields == ['origins']
