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


def test_tiny_object_gets_a_positive():
    labels, pos = targets(make_head(),
                          gt([[square(50.5, 50.5, 53.5, 53.5)]], [2]))
    assert len(pos) == 1 and (labels == 2).sum() == 1


def test_point_claimed_by_two_objects_goes_to_one():
    # Two identical objects: every candidate point is shared by both.
    box = square(30, 30, 90, 90)
    labels, pos = targets(make_head(), gt([[box], [box.copy()]], [0, 1]))
    assert len(pos) > 0
    assert len(torch.unique(pos.point_inds)) == len(pos.point_inds)
    assert int((labels < 3).sum()) == len(pos)


@pytest.mark.parametrize('parts', ['all', 'largest'])
def test_mask_target_parts(parts):
    head = make_head(target_builder=dict(mask_target_parts=parts))
    multipart = [square(10, 10, 50, 100), square(70, 10, 90, 40)]
    assert_finite_with_grad(loss(head, [gt([multipart], [0])]), head)


@pytest.mark.parametrize('cost_mask', ['soft', 'hard'])
def test_cost_mask_choices_select_positives(cost_mask):
    head = make_head(target_builder=dict(cost_mask=cost_mask))
    losses = loss(head, [gt([[square(20, 20, 90, 100)]], [1])])
    assert_finite_with_grad(losses, head)
    with pytest.raises(ValueError, match='cost_mask'):
        make_head(target_builder=dict(cost_mask='fuzzy'))
