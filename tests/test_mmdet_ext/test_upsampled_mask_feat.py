"""UpsampledMaskFeatModule: SOLOv2 mask features at a finer stride, and the
SOLOv2 head that builds its mask feature module from the registry."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from mmdet.models.dense_heads.solov2_head import MaskFeatModule
from mmdet.registry import MODELS
from mmdet_ext.models.layers import (UpsampledMaskFeatModule,
                                     init_as_nearest_upsampling)
from test_solov2_fine_mask_loss_head import IMAGE, OBJECTS, _gt, _losses
from test_solov2_min_area_head import CHANNELS, _head_kwargs


def _module(**kwargs):
    return UpsampledMaskFeatModule(
        in_channels=8,
        feat_channels=8,
        start_level=0,
        end_level=2,
        out_channels=CHANNELS,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        **kwargs)


def _feats():
    torch.manual_seed(1)
    return tuple(
        torch.randn(1, 8, IMAGE // s, IMAGE // s) for s in (4, 8, 16))


@pytest.mark.parametrize('num_upsamples, stride', [(1, 2), (2, 1)])
def test_output_at_the_finer_stride(num_upsamples, stride):
    module = _module(mask_stride=stride, num_upsamples=num_upsamples)
    out = module(_feats())
    assert out.shape == (1, CHANNELS, IMAGE // stride, IMAGE // stride)
    assert module.mask_stride == stride


@pytest.mark.parametrize('bad', [0, -1, 1.5])
def test_bad_number_of_upsamplings(bad):
    with pytest.raises(ValueError, match='num_upsamples'):
        _module(num_upsamples=bad)


def _head(feature_type=None, **kwargs):
    head_kwargs = _head_kwargs()
    if feature_type is not None:
        head_kwargs['mask_feature_head'].update(type=feature_type,
                                                mask_stride=2)
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='SOLOV2FineMaskLossHead', **head_kwargs, **kwargs))


def test_head_builds_the_registered_mask_features():
    head = _head('UpsampledMaskFeatModule')
    assert type(head.mask_feature_head) is UpsampledMaskFeatModule
    assert head.mask_stride == 2
    assert head.mask_feature_head.in_channels == head.in_channels
    assert type(_head().mask_feature_head) is MaskFeatModule
    assert _head().mask_stride == 4


@pytest.mark.parametrize('mask_loss_stride', [None, 1])
def test_head_trains_and_predicts_at_the_finer_stride(mask_loss_stride):
    head = _head('UpsampledMaskFeatModule', mask_loss_stride=mask_loss_stride)
    losses = _losses(head, _gt(OBJECTS))
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(p.grad is not None for p in head.parameters())
    targets = head._get_targets_single(_gt(OBJECTS), featmap_sizes=(32, 32))
    assert targets[0][0].shape[1:] == (IMAGE // (mask_loss_stride or 2), ) * 2
    head.eval()
    with torch.no_grad():
        results = head.predict(
            _feats(), [
                InstanceData(
                    metainfo=dict(
                        img_shape=(IMAGE, IMAGE),
                        ori_shape=(IMAGE, IMAGE),
                        batch_input_shape=(IMAGE, IMAGE)))
            ])
    assert results[0].masks.shape[1:] == (IMAGE, IMAGE)


def test_mask_loss_stride_must_divide_the_finer_stride():
    with pytest.raises(ValueError, match='mask_loss_stride'):
        _head('UpsampledMaskFeatModule', mask_loss_stride=4)


def test_starts_as_the_official_features_upsampled():
    # nearest upsampling keeps the GN statistics of conv_pred, so with the
    # official weights the output is MaskFeatModule's, repeated 2 x 2
    official = MaskFeatModule(
        in_channels=8,
        feat_channels=8,
        start_level=0,
        end_level=2,
        out_channels=CHANNELS,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))
    official.init_weights()
    ours = _module(mask_stride=2)
    ours.init_weights()
    state = {
        key.replace('conv_pred.', 'conv_pred.2.'): value
        for key, value in official.state_dict().items()
    }
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected
    assert all(key.startswith('conv_pred.0.') for key in missing)
    expected = F.interpolate(official(_feats()), scale_factor=2.,
                             mode='nearest')
    torch.testing.assert_close(ours(_feats()), expected)


@pytest.mark.parametrize('deconv', [
    torch.nn.ConvTranspose2d(4, 8, 2, stride=2),
    torch.nn.ConvTranspose2d(4, 4, 3, stride=2),
])
def test_nearest_initialisation_needs_a_square_deconvolution(deconv):
    with pytest.raises(ValueError, match='nearest upsampling needs'):
        init_as_nearest_upsampling(deconv)
