"""PolarMask head specifics: FCOS assignment (regress ranges, centre
sampling around the mass centre, smallest object wins), polar centerness,
the official score fusion and the PolarNeXt pieces of the ablation ladder."""
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict

from mmdet_ext.task_modules import PositiveTargets
from polar_head_cases import (IMG, STRIDES, TEST_CFG, assert_finite_with_grad,
                              feats, gt, loss, make_head, meta, square,
                              targets)


def _levels(head, pos):
    """Stride of each positive point."""
    _, strides = head._points(
        [torch.Size((IMG // s, IMG // s)) for s in STRIDES],
        torch.device('cpu'))
    return strides[pos.point_inds]


def test_forward_shapes_and_exp_distances():
    head = make_head('PolarMask', num_classes=5, num_rays=18)
    cls, bbox, rays, quality = head(feats(2))
    for level, s in enumerate(STRIDES):
        size = (IMG // s, IMG // s)
        assert cls[level].shape == (2, 5, *size)
        assert bbox[level].shape == (2, 4, *size)
        assert rays[level].shape == (2, 18, *size)
        assert quality[level].shape == (2, 1, *size)
        assert (rays[level] > 0).all() and (bbox[level] > 0).all()
        assert rays[level].dtype == torch.float32


def test_without_box_branch():
    head = make_head('PolarMask', with_box_branch=False)
    cls, bbox, rays, quality = head(feats())
    assert all(b is None for b in bbox)
    assert not hasattr(head, 'reg_convs')
    losses = loss(head, [gt([[square(20, 20, 80, 90)]], [0])])
    assert 'loss_bbox' not in losses
    assert_finite_with_grad(losses, head)


def test_location_outside_the_regress_range_is_negative():
    # A 40 px object: max box distance <= 40 from any inside point, in range
    # (-1, 64) of stride 8 only; stride 16 points near its centre are inside
    # the centre-sampling region but must stay negative.
    head = make_head('PolarMask')
    _, pos = targets(head, gt([[square(40, 40, 80, 80)]], [1]))
    assert len(pos) > 0
    assert (_levels(head, pos) == 8).all()
    # A 180 px object: every positive sees its max box distance within the
    # range of its own level, and the sampling region spans two levels.
    _, pos = targets(head, gt([[square(-30, -30, 150, 150)]], [1]))
    ltrb = torch.cat([pos.points - pos.gt_boxes[:, :2],
                      pos.gt_boxes[:, 2:] - pos.points], dim=1)
    max_dist = ltrb.max(dim=1).values
    ranges = dict(zip(STRIDES, head.target_builder.regress_ranges))
    for stride, dist in zip(_levels(head, pos).tolist(), max_dist.tolist()):
        low, high = ranges[int(stride)]
        assert low <= dist <= high
    assert set(_levels(head, pos).tolist()) == {16., 32.}


def test_centre_sampling_around_the_mass_centre():
    # An L shape: its mass centre is not its box centre.
    l_shape = np.array([0, 0, 100, 0, 100, 20, 20, 20, 20, 100, 0, 100],
                       dtype=np.float64)
    head = make_head('PolarMask')
    _, pos = targets(head, gt([[l_shape]], [0]))
    assert len(pos) > 0
    # Area centroid of the L: (32.2, 32.2), far from the box centre (50, 50).
    mass_centre = torch.tensor([32.2, 32.2])
    offsets = (pos.points - mass_centre).abs().max(dim=1).values
    assert (offsets < 1.5 * _levels(head, pos)).all()
    assert torch.allclose(pos.points.mean(dim=0), mass_centre, atol=6.0)


def test_ambiguous_location_goes_to_the_smaller_object():
    # Concentric objects: every positive of the small one lies inside the
    # big one's sampling region too.
    head = make_head('PolarMask', num_classes=3)
    big, small = square(20, 20, 100, 100), square(45, 45, 75, 75)
    labels, pos = targets(head, gt([[big], [small]], [0, 2]))
    _, small_pos = targets(head, gt([[small]], [2]))
    assert len(small_pos) > 0
    assert (labels[small_pos.point_inds] == 2).all()
    assert len(torch.unique(pos.point_inds)) == len(pos)


def test_ray_targets_and_polar_centerness():
    head = make_head('PolarMask')
    _, pos = targets(head, gt([[square(30, 30, 90, 90)]], [0]))
    assert pos.target_rays.shape == (len(pos), 36)
    assert (pos.target_rays > 0).all()
    centerness = pos.polar_centerness()
    expected = (pos.target_rays.min(1).values /
                pos.target_rays.max(1).values).sqrt()
    assert torch.allclose(centerness, expected)
    assert ((centerness > 0) & (centerness <= 1)).all()
    assert (pos.gt_boxes == torch.tensor([30., 30., 90., 90.])).all()
    assert pos.soft_masks is None  # no Dice, no mask-IoU quality


def test_polar_centerness_of_a_square_centre():
    rays = torch.tensor([[2.0, 1.0, 2.0, 1.0], [3.0, 3.0, 3.0, 3.0]])
    pos = PositiveTargets(
        point_inds=torch.arange(2), points=torch.zeros(2, 2),
        gt_boxes=torch.zeros(2, 4), pred_rays=rays, target_rays=rays)
    assert torch.allclose(pos.polar_centerness(),
                          torch.tensor([0.5 ** 0.5, 1.0]))


def _one_level_rows(scores, quality):
    n = len(scores)
    return [dict(
        scores=torch.tensor(scores),
        quality=torch.tensor(quality),
        rays=torch.full((n, 36), 10.0),
        points=torch.tensor([[30.0 + 40 * i, 60.0] for i in range(n)]),
        bboxes=torch.full((n, 4), 10.0))]


def test_score_threshold_before_centerness_then_plus_half():
    head = make_head('PolarMask', num_classes=1)
    # Row 0: cls 0.04 < 0.05 is dropped although 0.04 * 1.5 > 0.05.
    # Row 1: cls 0.1, centerness 0.2 -> 0.1 * (0.2 + 0.5) = 0.07.
    rows = _one_level_rows([[0.04], [0.1]], [1.0, 0.2])
    res = head._predict_single(rows, meta(), ConfigDict(TEST_CFG), False,
                               True)
    assert len(res) == 1
    assert torch.allclose(res.scores, torch.tensor([0.07]))
    # The box branch gives the NMS / output boxes by default ...
    assert torch.allclose(res.bboxes, torch.tensor([[60., 50., 80., 70.]]))
    # ... and the polygon box with mask_nms=True.
    cfg = ConfigDict(TEST_CFG, mask_nms=True)
    res = head._predict_single(rows, meta(), cfg, False, True)
    assert torch.allclose(res.bboxes, res.polygons.min(1).values.repeat(
        1, 2).new_tensor([[60., 50., 80., 70.]]), atol=1e-4)


def test_nms_pre_ranks_by_cls_times_centerness():
    head = make_head('PolarMask', num_classes=1)
    outs = head(feats())
    cfg = ConfigDict(TEST_CFG, nms_pre=3, score_thr=0.0)
    points = head.prior_generator.single_level_grid_priors(
        outs[0][0].shape[-2:], level_idx=0, device='cpu')
    rows = head._select_level(outs[0][0][0], outs[1][0][0], outs[2][0][0],
                              outs[3][0][0], points, cfg)
    assert len(rows['points']) == 3
    ranking = rows['scores'][:, 0] * rows['quality']
    full = (outs[0][0][0].sigmoid().flatten() *
            outs[3][0][0].sigmoid().flatten())
    assert torch.allclose(ranking.sort().values, full.topk(3).values.sort()
                          .values)


LADDER = {
    'top-cost matcher': dict(
        target_builder=dict(
            regress_ranges=None,
            fallback_candidate=True,
            mask_target_parts='all',
            matcher=dict(type='TopCostMatcher', num_sample=9))),
    'dice': dict(loss_dice=dict(
        type='DiceLoss', use_sigmoid=False, activate=False, naive_dice=True,
        eps=1.0, loss_weight=1.0)),
    'quality': dict(quality_target='mask_iou', quality_tower='mask'),
}


@pytest.mark.parametrize('rung', list(LADDER))
def test_ablation_ladder_rungs_train(rung):
    head = make_head('PolarMask', **LADDER[rung])
    losses = loss(head, [gt([[square(20, 20, 80, 90)], [square(60, 10, 120,
                                                              50)]], [0, 2])])
    assert ('loss_dice' in losses) == (rung == 'dice')
    assert_finite_with_grad(losses, head)


def test_top_cost_matcher_limits_positives_per_object():
    head = make_head('PolarMask', **LADDER['top-cost matcher'])
    _, pos = targets(head, gt([[square(20, 20, 100, 100)]], [0]))
    assert 0 < len(pos) <= 9
    # the matcher ranks by predicted masks: built for every positive
    assert pos.soft_masks.shape == pos.target_masks.shape
    assert pos.soft_masks.shape[0] == len(pos)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match='quality_target'):
        make_head('PolarMask', quality_target='iou')
    with pytest.raises(ValueError, match='regress_ranges'):
        make_head('PolarMask', regress_ranges=((-1, 64), ))


def test_target_options_left_out_keep_the_official_values():
    """A head built without (or with part of) ``target_builder`` assigns as
    the official PolarMask; the head sets what it derives."""
    for options in ({}, dict(ray_origin='centroid')):
        builder = make_head('PolarMask', target_builder=options).target_builder
        assert builder.ray_origin == options.get('ray_origin',
                                                 'int_centroid')
        assert builder.sampling_radius == 1.5
        assert builder.ray_target_parts == 'largest'
        assert builder.mask_target_parts == 'largest'
        assert builder.fallback_candidate is False
        assert type(builder.matcher).__name__ == 'MinAreaMatcher'
        assert builder.ray_coder.miss_value == 1e-6
        assert builder.regress_ranges[0] == (-1., 64.)
        assert builder.with_masks is False
    assert make_head('PolarMask').target_builder.num_rays == 36
    for derived in ('num_classes', 'num_rays', 'with_masks'):
        with pytest.raises(ValueError, match=derived):
            make_head('PolarMask', target_builder={derived: 1})


def test_shared_arguments_pass_through_to_the_base():
    head = make_head('PolarMask', num_rays=18, strides=(4, 8, 16, 32, 64))
    assert head.strides == (4, 8, 16, 32, 64)
    assert head.conv_rays.out_channels == head.target_builder.num_rays == 18
    assert len(head.cls_convs) == head.stacked_convs == 1
    assert head.init_cfg['type'] == 'Normal'
    with pytest.raises(TypeError):
        make_head('PolarMask', no_such_option=1)


def test_norm_on_stride_predicts_in_stride_units():
    torch.manual_seed(0)
    official = make_head('PolarMask')
    torch.manual_seed(0)
    strided = make_head('PolarMask', norm_on_stride=True)
    inputs = feats()
    _, bbox, rays, _ = official(inputs)
    _, bbox_s, rays_s, _ = strided(inputs)
    for level, stride in enumerate(STRIDES):
        torch.testing.assert_close(rays_s[level], rays[level] * stride)
        torch.testing.assert_close(bbox_s[level], bbox[level] * stride)
    losses = loss(strided, [gt([[square(20, 20, 80, 90)]], [0])])
    assert_finite_with_grad(losses, strided)


@pytest.mark.parametrize('fallback', [True, False])
def test_fallback_candidate_with_the_min_area_matcher(fallback):
    """An object between the locations of every level gets no positive
    under FCOS's rule (the official default); with the tiny configs'
    ``fallback_candidate`` it gets one, of its own class, and trains."""
    head = make_head('PolarMask',
                     target_builder=dict(fallback_candidate=fallback))
    tiny = gt([[square(53, 53, 55, 55)]], [2])
    labels, pos = targets(head, tiny)
    assert len(pos) == int(fallback)
    assert int((labels == 2).sum()) == int(fallback)
    if fallback:
        assert_finite_with_grad(loss(head, [tiny]), head)
