"""Official PolarNeXt (mmdet 3) and PolarMask (mmdet 1.x) checkpoints load into
the paper-named configs with zero missing or unexpected keys, and the loaded
heads compute what the official forward computes on those weights."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from conftest import REPO_ROOT
from mmdet.registry import MODELS
from mmdet_ext.geometry.ray_targets import decode_rays

CHANNELS, CONVS, CLASSES, RAYS = 256, 4, 80, 36
STRIDES = (8, 16, 32, 64, 128)


def _build(config):
    cfg = Config.fromfile(str(REPO_ROOT / config))
    init_default_scope('mmdet')
    for name in cfg.custom_imports.imports:
        __import__(name)
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model).eval()


def _tower(name, gen):
    """An official GN tower: conv without bias (norm follows), GN affine."""
    state = {}
    for i in range(CONVS):
        state[f'{name}.{i}.conv.weight'] = torch.randn(
            CHANNELS, CHANNELS, 3, 3, generator=gen) * 0.02
        state[f'{name}.{i}.gn.weight'] = 1 + 0.1 * torch.randn(
            CHANNELS, generator=gen)
        state[f'{name}.{i}.gn.bias'] = 0.1 * torch.randn(
            CHANNELS, generator=gen)
    return state


def _conv(name, out, gen):
    return {
        f'{name}.weight': torch.randn(out, CHANNELS, 3, 3, generator=gen) * 0.01,
        f'{name}.bias': torch.randn(out, generator=gen) * 0.1
    }


def _scales(name, gen):
    return {
        f'{name}.{level}.scale': 1 + 0.2 * torch.rand((), generator=gen)
        for level in range(len(STRIDES))
    }


def official_polarnext_head():
    """State dict with exactly the names and shapes of the official R-50
    head (`AnchorFreeHead` towers, conv_cls / conv_reg / conv_centerness)."""
    gen = torch.Generator().manual_seed(0)
    return {
        **_tower('cls_convs', gen), **_tower('reg_convs', gen),
        **_conv('conv_cls', CLASSES, gen), **_conv('conv_reg', RAYS, gen),
        **_conv('conv_centerness', 1, gen), **_scales('scales', gen)
    }


def official_polarmask_head():
    """State dict with exactly the names and shapes of the official mmdet 1.x
    head (three towers; polar_cls / reg / mask / centerness; two scales)."""
    gen = torch.Generator().manual_seed(1)
    return {
        **_tower('cls_convs', gen), **_tower('reg_convs', gen),
        **_tower('mask_convs', gen), **_conv('polar_cls', CLASSES, gen),
        **_conv('polar_reg', 4, gen), **_conv('polar_mask', RAYS, gen),
        **_conv('polar_centerness', 1, gen), **_scales('scales_bbox', gen),
        **_scales('scales_mask', gen)
    }


def _run_tower(state, name, x):
    for i in range(CONVS):
        x = F.conv2d(x, state[f'{name}.{i}.conv.weight'], padding=1)
        x = F.group_norm(x, 32, state[f'{name}.{i}.gn.weight'],
                         state[f'{name}.{i}.gn.bias'])
        x = F.relu(x)
    return x


def _run_conv(state, name, x):
    return F.conv2d(x, state[f'{name}.weight'], state[f'{name}.bias'],
                    padding=1)


def _save(tmp_path, model, head_state):
    """A checkpoint file: backbone and neck of ``model`` (MMDetection names in
    both codebases) and the official head."""
    state = {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith('bbox_head.')
    }
    state.update({f'bbox_head.{k}': v for k, v in head_state.items()})
    path = tmp_path / 'official.pth'
    torch.save(dict(state_dict=state, meta=dict()), path)
    return str(path)


def _load_strict(model, path):
    # strict: any missing or unexpected key raises
    load_checkpoint(model, path, map_location='cpu', strict=True,
                    logger='silent')


def _feats():
    gen = torch.Generator().manual_seed(2)
    return tuple(
        torch.randn(1, CHANNELS, 128 // s, 128 // s, generator=gen)
        for s in STRIDES)


def test_official_polarnext_checkpoint(tmp_path):
    model = _build('projects/PolarNeXt/configs/polarnext_r50-torch_fpn_1x_coco.py')
    official = official_polarnext_head()
    _load_strict(model, _save(tmp_path, model, official))
    feats = _feats()
    with torch.no_grad():
        cls_scores, rays, quality = model.bbox_head(feats)
    for level, (x, stride) in enumerate(zip(feats, STRIDES)):
        cls_feat = _run_tower(official, 'cls_convs', x)
        reg_feat = _run_tower(official, 'reg_convs', x)
        expected_rays = (official[f'scales.{level}.scale'] * _run_conv(
            official, 'conv_reg', reg_feat) * stride).clamp(min=0.01)
        torch.testing.assert_close(cls_scores[level],
                                   _run_conv(official, 'conv_cls', cls_feat))
        torch.testing.assert_close(rays[level], expected_rays)
        torch.testing.assert_close(
            quality[level], _run_conv(official, 'conv_centerness', reg_feat))


def _by_angle(points, vertices):
    """Vertices (P, K, 2) sorted by their angle around their point."""
    offset = vertices - points[:, None]
    order = torch.atan2(offset[..., 1], offset[..., 0]).argsort(dim=1)
    return vertices.gather(1, order[..., None].expand_as(vertices))


def test_official_polarmask_checkpoint(tmp_path):
    model = _build('projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py')
    official = official_polarmask_head()
    _load_strict(model, _save(tmp_path, model, official))
    feats = _feats()
    with torch.no_grad():
        cls_scores, boxes, rays, centerness = model.bbox_head(feats)
    # Official ray k: (x, y) = (cx + d sin t_k, cy + d cos t_k), t_k = 10 k deg.
    theta = torch.arange(RAYS) * (2 * math.pi / RAYS)
    for level, x in enumerate(feats):
        cls_feat = _run_tower(official, 'cls_convs', x)
        reg_feat = _run_tower(official, 'reg_convs', x)
        mask_feat = _run_tower(official, 'mask_convs', x)
        torch.testing.assert_close(cls_scores[level],
                                   _run_conv(official, 'polar_cls', cls_feat))
        torch.testing.assert_close(
            centerness[level],
            _run_conv(official, 'polar_centerness', cls_feat))
        torch.testing.assert_close(
            boxes[level], (official[f'scales_bbox.{level}.scale'] *
                           _run_conv(official, 'polar_reg', reg_feat)).exp())
        lengths = (official[f'scales_mask.{level}.scale'] *
                   _run_conv(official, 'polar_mask', mask_feat)).exp()
        lengths = lengths[0].flatten(1).t()  # (P, K)
        points = torch.rand(len(lengths), 2) * 100
        expected = torch.stack([
            points[:, :1] + lengths * theta.sin(),
            points[:, 1:] + lengths * theta.cos()
        ], -1)
        ours = decode_rays(points, rays[level][0].flatten(1).t())
        torch.testing.assert_close(
            _by_angle(points, ours), _by_angle(points, expected),
            rtol=1e-4, atol=1e-3)


def test_our_checkpoints_are_not_converted(tmp_path):
    """A checkpoint of ours round-trips unchanged (no renaming, no reorder)."""
    model = _build('projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py')
    path = tmp_path / 'ours.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    other = _build('projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py')
    _load_strict(other, str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key


def test_official_polarmask_needs_rays_divisible_by_four():
    from projects.PolarMask.polarmask import PolarMaskHead
    head = PolarMaskHead(num_classes=3, in_channels=8, feat_channels=8,
                         stacked_convs=1, num_rays=18,
                         norm_cfg=dict(type='GN', num_groups=4))
    state = {k.replace('conv_rays', 'polar_mask'): v
             for k, v in head.state_dict().items()}
    with pytest.raises(ValueError, match='divisible by 4'):
        head.load_state_dict(state)
