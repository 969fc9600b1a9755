"""PolarNeXtRefineHead: PolarNeXt's outputs, losses of every refinement step,
and an untrained refinement that changes no polygon."""
import pytest
import torch
from mmengine.config import ConfigDict

from polar_head_cases import (IMG, TEST_CFG, assert_finite_with_grad, feats,
                              gt, loss, meta, square)
from projects.PolarNeXt.polarnext import PolarNeXtHead, PolarNeXtRefineHead

OBJECTS = [gt([[square(10, 10, 60, 70)], [square(70, 20, 120, 110)]], [0, 2])]


def _heads(**kwargs):
    """A refine head and a PolarNeXt head with the same shared weights."""
    options = dict(
        num_classes=3,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        test_cfg=TEST_CFG,
        ray_activation='exp')
    torch.manual_seed(0)
    refine = PolarNeXtRefineHead(**options, **kwargs)
    refine.init_weights()
    plain = PolarNeXtHead(**options)
    missing = plain.load_state_dict(refine.state_dict(), strict=False)
    assert not missing.missing_keys
    return refine, plain


def test_forward_adds_the_refinement_features_of_the_first_level():
    refine, _ = _heads()
    outs = refine(feats(2))
    assert len(outs) == 4 and len(outs[3]) == 1
    assert outs[3][0].shape == (2, 8, IMG // 8, IMG // 8)


def test_losses_of_every_step_are_finite_and_train_the_refiners():
    refine, _ = _heads(num_refine_steps=3)
    losses = loss(refine, OBJECTS)
    assert {'loss_refine0', 'loss_refine1', 'loss_refine2',
            'loss_refine_quality', 'loss_cls', 'loss_polar'} <= set(losses)
    assert_finite_with_grad(losses, refine)
    for refiner in refine.refiners:
        assert refiner.ray_out.weight.grad.abs().sum() > 0
    assert refine.refiners[-1].quality_out.weight.grad.abs().sum() > 0
    # DDP (without find_unused_parameters) needs a gradient for every one.
    unused = [name for name, p in refine.named_parameters() if p.grad is None]
    assert not unused


def test_images_without_objects_give_zero_refinement_losses():
    refine, _ = _heads()
    empty = gt([], [])
    losses = loss(refine, [empty, empty])
    assert losses['loss_refine0'] == 0 and losses['loss_refine_quality'] == 0
    assert_finite_with_grad(losses, refine)
    unused = [name for name, p in refine.named_parameters() if p.grad is None]
    assert not unused


def test_untrained_refinement_keeps_polarnext_polygons():
    refine, plain = _heads()
    x = feats()
    with torch.no_grad():
        # The class prior (0.01) is under the default threshold.
        cfg = ConfigDict(TEST_CFG, score_thr=0.0, refine_score='initial')
        ours = refine.predict_by_feat(*refine(x), [meta()], cfg=cfg)[0]
        theirs = plain.predict_by_feat(*plain(x), [meta()], cfg=cfg)[0]
        cfg.refine_score = 'refined'
        refined = refine.predict_by_feat(*refine(x), [meta()], cfg=cfg)[0]
    assert len(ours) > 0
    torch.testing.assert_close(ours.polygons, theirs.polygons)
    torch.testing.assert_close(ours.scores, theirs.scores)
    # An untrained refined quality logit is 0: every score is cls * 0.5.
    assert 0 < refined.scores.max() <= 0.5


def test_unknown_refine_score_is_refused():
    refine, _ = _heads()
    with pytest.raises(ValueError, match='refine_score'):
        refine.predict_by_feat(
            *refine(feats()), [meta()],
            cfg=ConfigDict(TEST_CFG, refine_score='best'))


def test_at_least_one_step():
    with pytest.raises(ValueError, match='num_refine_steps'):
        _heads(num_refine_steps=0)
