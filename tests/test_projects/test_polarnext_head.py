"""PolarNeXt head specifics: shapes, fallback candidates, exclusive matching,
target options (the contract shared with PolarMask is in
test_polar_heads_common.py)."""
import pytest
import torch

from polar_head_cases import (IMG, STRIDES, assert_finite_with_grad, feats, gt,
                              loss, make_head, square, targets)


def test_forward_shapes():
    head = make_head(num_classes=5, num_rays=18)
    cls, rays, quality = head(feats(2))
    for level, s in enumerate(STRIDES):
        assert cls[level].shape == (2, 5, IMG // s, IMG // s)
        assert rays[level].shape == (2, 18, IMG // s, IMG // s)
        assert quality[level].shape == (2, 1, IMG // s, IMG // s)
        assert (rays[level] >= 0.01).all()
        assert rays[level].dtype == torch.float32


def _seeded_head(**kwargs):
    torch.manual_seed(0)
    return make_head(**kwargs)


def test_mask_target_parts_changes_the_target_crops_only():
    # Two parts: rays come from the largest either way. The crop box spans
    # the parts used (and the small predicted polygons, which lie inside the
    # largest part): the largest square fills its crop, both parts fill 58 %
    # of theirs. (No Dice cost, so that both select the same positives.)
    multipart = [square(10, 10, 50, 100), square(70, 10, 90, 40)]
    pos = {
        parts: targets(
            _seeded_head(
                target_builder=dict(
                    mask_target_parts=parts,
                    matcher=dict(type='TopCostMatcher', dice_weight=0.))),
            gt([multipart], [0]))[1]
        for parts in ('all', 'largest')
    }
    assert torch.equal(pos['all'].point_inds, pos['largest'].point_inds)
    assert torch.equal(pos['all'].target_rays, pos['largest'].target_rays)
    filled = {
        parts: p.target_masks.float().mean((1, 2))
        for parts, p in pos.items()
    }
    assert (filled['largest'] > 0.9).all()
    assert (filled['all'] < 0.7).all()
    with pytest.raises(ValueError, match='mask_target_parts'):
        make_head(target_builder=dict(mask_target_parts='smallest'))


@pytest.mark.parametrize('fallback', [True, False])
def test_fallback_candidate_for_an_object_smaller_than_a_stride(fallback):
    # A 2 px object between the points of every level: no candidate.
    head = make_head(target_builder=dict(fallback_candidate=fallback))
    labels, pos = targets(head, gt([[square(53, 53, 55, 55)]], [2]))
    assert len(pos) == int(fallback)
    assert int((labels == 2).sum()) == int(fallback)


@pytest.mark.parametrize('exclusive', [True, False])
def test_exclusive_matching_on_overlapping_objects(exclusive):
    # Two identical objects: every candidate point is shared by both.
    box = square(30, 30, 90, 90)
    head = make_head(target_builder=dict(
        matcher=dict(type='TopCostMatcher', exclusive=exclusive)))
    _, pos = targets(head, gt([[box], [box.copy()]], [0, 1]))
    num_unique = len(torch.unique(pos.point_inds))
    if exclusive:
        assert num_unique == len(pos) == 9
    else:  # the official matcher: both objects take the same 9 points
        assert num_unique == 9 and len(pos) == 18


@pytest.mark.parametrize('cost_mask', ['soft', 'hard'])
def test_cost_mask_choices_select_positives(cost_mask):
    head = make_head(target_builder=dict(cost_mask=cost_mask))
    losses = loss(head, [gt([[square(20, 20, 90, 100)]], [1])])
    assert_finite_with_grad(losses, head)
    with pytest.raises(ValueError, match='cost_mask'):
        make_head(target_builder=dict(cost_mask='fuzzy'))


def test_matcher_costs_follow_the_losses_and_derived_options_are_the_heads():
    head = make_head(
        num_rays=18,
        loss_dice=dict(
            type='DiceLoss', use_sigmoid=False, activate=False,
            naive_dice=True, eps=1.0, loss_weight=0.5),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=1.5,
                      alpha=0.3, loss_weight=2.0))
    matcher = head.target_builder.matcher
    assert (matcher.cls_weight, matcher.polar_weight,
            matcher.dice_weight) == (2.0, 1.0, 0.5)
    assert (matcher.alpha, matcher.gamma) == (0.3, 1.5)
    assert head.target_builder.num_rays == head.conv_rays.out_channels == 18
    assert head.init_cfg['type'] == 'Normal'
    with pytest.raises(ValueError, match='num_rays'):
        make_head(target_builder=dict(num_rays=18))


QFL = dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0)


def test_iou_class_target_scores_each_positive_with_its_polygon_iou():
    # Official: hard labels. 'iou': the positives' class targets are their
    # detached soft IoU, every other point scores 0 (QualityFocalLoss).
    head = _seeded_head(cls_target='iou', loss_cls=QFL)
    labels, pos = targets(head, gt([[square(20, 20, 90, 80)]], [1]))
    iou = pos.soft_iou()
    target_labels, scores = head._cls_targets(labels, iou, pos)
    assert torch.equal(target_labels, labels)
    assert torch.allclose(scores[pos.point_inds], iou)
    assert 0 < iou.min() and iou.max() < 1
    others = torch.ones_like(scores, dtype=torch.bool)
    others[pos.point_inds] = False
    assert (scores[others] == 0).all()
    hard = _seeded_head()
    assert hard._cls_targets(labels, iou, pos) is labels


def test_iou_class_target_trains():
    head = _seeded_head(cls_target='iou', loss_cls=QFL)
    assert_finite_with_grad(loss(head, gt([[square(20, 20, 90, 80)]], [1])),
                            head)


@pytest.mark.parametrize('cls_target, loss_cls', [('iou', None),
                                                  ('label', QFL),
                                                  ('quality', QFL)])
def test_class_target_and_loss_must_agree(cls_target, loss_cls):
    kwargs = {} if loss_cls is None else dict(loss_cls=loss_cls)
    with pytest.raises(ValueError, match='cls_target'):
        make_head(cls_target=cls_target, **kwargs)
