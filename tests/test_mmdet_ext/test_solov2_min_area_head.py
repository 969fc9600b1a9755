"""SOLOV2MinAreaHead: the test-time area floor of SOLOv2's masks."""
import math

import pytest
import torch
from mmengine.config import Config

from mmdet.models.dense_heads import SOLOV2Head
from mmdet.registry import MODELS
from conftest import REPO_ROOT
from mmdet_ext.models.dense_heads import SOLOV2MinAreaHead

NUM_GRIDS = [6, 4, 2]
CHANNELS = 4
# SOLOv2's own test settings (MMDetection's, copied in the project's base)
TEST_CFG = Config.fromfile(
    str(REPO_ROOT / 'configs/_base_/models/solov2_r50_fpn.py')).model.test_cfg


def _head_kwargs():
    return dict(
        num_classes=2,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        strides=[8, 16, 32],
        scale_ranges=((1, 64), (32, 128), (64, 256)),
        num_grids=NUM_GRIDS,
        mask_feature_head=dict(
            feat_channels=8,
            start_level=0,
            end_level=2,
            out_channels=CHANNELS,
            mask_stride=4,
            norm_cfg=dict(type='GN', num_groups=4, requires_grad=True)),
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        test_cfg=TEST_CFG)


def _head(**kwargs):
    return MODELS.build(
        dict(type='SOLOV2MinAreaHead', **_head_kwargs(), **kwargs))


def _one_mask_of(pixels):
    """Predictions of one confident level-0 point whose mask covers
    ``pixels`` pixels of the 16 x 16 mask features (stride 4, 64 px input).
    """
    num_points = sum(g * g for g in NUM_GRIDS)
    kernels = torch.zeros(num_points, CHANNELS)
    kernels[0, 0] = 1.
    scores = torch.zeros(num_points, 2)
    scores[0, 1] = 0.9
    feats = torch.full((1, CHANNELS, 16, 16), -10.)
    feats[0, 0].view(-1)[:pixels] = 10.
    meta = dict(img_shape=(64, 64), ori_shape=(64, 64))
    return kernels, scores, feats, meta


@pytest.mark.parametrize('min_mask_pixels, kept', [(None, [False, True]),
                                                   (0, [True, True]),
                                                   ([4, 0, 0], [False, True])
                                                   ])
def test_area_floor_of_the_masks(min_mask_pixels, kept):
    # Official floor: the level's stride (8 pixels at level 0), so a
    # 4-pixel mask (64 input pixels) is dropped and a 12-pixel one kept.
    head = _head(min_mask_pixels=min_mask_pixels)
    for pixels, expected in zip([4, 12], kept):
        results = head._predict_by_feat_single(*_one_mask_of(pixels))
        assert (len(results) == 1) == expected
        if expected:
            # upsampled to the input (x4 per side), up to bilinear edges
            assert abs(int(results.masks[0].sum()) - pixels * 16) <= 4 * pixels
    assert head.strides == [8, 16, 32]  # restored after inference


def test_official_floor_is_mmdetections():
    reference = SOLOV2Head(**_head_kwargs())
    head = _head()
    for pixels in (4, 8, 9, 12):
        ours = head._predict_by_feat_single(*_one_mask_of(pixels))
        theirs = reference._predict_by_feat_single(*_one_mask_of(pixels))
        assert len(ours) == len(theirs) == int(pixels > 8)


@pytest.mark.parametrize('bad', [-1, [0, 0]])
def test_bad_area_floor(bad):
    with pytest.raises(ValueError, match='min_mask_pixels'):
        _head(min_mask_pixels=bad)


def test_registered():
    assert MODELS.get('SOLOV2MinAreaHead') is SOLOV2MinAreaHead


def _two_cells(second_cell, second_kernel_channel):
    """Level-0 predictions of two confident cells: (0, 0) at 0.9 and
    ``second_cell`` at 0.8; kernel channel 0 draws the left half of the
    16 x 16 mask features, channel 1 the right half."""
    logit = lambda p: torch.logit(torch.tensor(p))  # noqa: E731
    kernels = [torch.zeros(1, CHANNELS, g, g) for g in NUM_GRIDS]
    scores = [torch.full((1, 2, g, g), -10.) for g in NUM_GRIDS]
    kernels[0][0, 0, 0, 0] = 1.
    scores[0][0, 1, 0, 0] = logit(0.9)
    kernels[0][0, second_kernel_channel, second_cell[0], second_cell[1]] = 1.
    scores[0][0, 1, second_cell[0], second_cell[1]] = logit(0.8)
    feats = torch.full((1, CHANNELS, 16, 16), -10.)
    feats[0, 0, :, :8] = 10.
    feats[0, 1, :, 8:] = 10.
    meta = dict(img_shape=(64, 64), ori_shape=(64, 64))
    return kernels, scores, feats, [meta]


@pytest.mark.parametrize('score_local_max, found', [(True, 1), (False, 2)])
def test_adjacent_objects_and_the_score_local_maximum(score_local_max, found):
    # Two objects (disjoint halves) whose cells touch: the official 2 x 2
    # local maximum drops the lower one before any mask is seen.
    head = _head(min_mask_pixels=0, score_local_max=score_local_max)
    results = head.predict_by_feat(*_two_cells((0, 1), 1))[0]
    assert len(results) == found
    assert results.scores[0] == pytest.approx(0.9, abs=1e-4)
    if found == 2:
        assert results.scores[1] == pytest.approx(0.8, abs=1e-4)
        assert not (results.masks[0] & results.masks[1]).any()


def test_duplicates_still_decayed_without_the_local_maximum():
    # The same mask from two adjacent cells: the Matrix NMS decays the
    # second by exp(-sigma * IoU^2) = exp(-2).
    head = _head(min_mask_pixels=0, score_local_max=False)
    results = head.predict_by_feat(*_two_cells((0, 1), 0))[0]
    assert len(results) == 2
    assert results.scores[1] == pytest.approx(0.8 * math.exp(-2.), rel=1e-3)


def test_default_inference_is_mmdetections():
    torch.manual_seed(0)
    reference = SOLOV2Head(**_head_kwargs())
    head = _head()
    head.load_state_dict(reference.state_dict())
    kernels = [torch.randn(2, CHANNELS, g, g) for g in NUM_GRIDS]
    scores = [torch.randn(2, 2, g, g) for g in NUM_GRIDS]
    feats = torch.randn(2, CHANNELS, 16, 16) * 3
    metas = [dict(img_shape=(64, 64), ori_shape=(64, 64))] * 2
    ours = head.predict_by_feat(kernels, [s.clone() for s in scores], feats,
                                metas)
    theirs = reference.predict_by_feat(kernels, [s.clone() for s in scores],
                                       feats, metas)
    for a, b in zip(ours, theirs):
        assert len(a) == len(b) > 0
        assert torch.equal(a.scores, b.scores)
        assert torch.equal(a.masks, b.masks)
