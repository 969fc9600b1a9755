"""PANet (projects/PANet): adaptive feature pooling (separate per-level
layers, each with gradient; max / sum fusion against a loop reference), the
fully-connected fusion mask head (shapes, added to every class, the ReLU
option), zero proposals, bf16 autocast and the configs (ladder, official
values)."""
import copy

import numpy as np
import pytest
import torch
from mmcv.ops import roi_align
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from conftest import REPO_ROOT
from mmdet.registry import MODELS
from mmdet.structures.mask import PolygonMasks
from mmdet_ext.testing import synthetic_gt
from mmdet_ext.utils.forced_detections import raw_batch
import projects.PANet.panet  # noqa: F401  (registers the modules)

CONFIGS = REPO_ROOT / 'projects' / 'PANet' / 'configs'
ABLATIONS = CONFIGS / 'ablations'
TOY = CONFIGS / 'panet_r18_pafpn-gn_toy-cpu.py'
R50_1X = CONFIGS / 'panet_r50-caffe_pafpn-gn_1x_coco.py'
R50_2X = CONFIGS / 'panet_r50-caffe_pafpn-gn_ms-2x_coco.py'
PAFPN = REPO_ROOT / 'configs' / 'mask_rcnn_pafpn'
PAFPN_R50 = PAFPN / 'mask-rcnn_r50_pafpn_1x_coco.py'
PAFPN_TOY = PAFPN / 'mask-rcnn_r18_pafpn_toy-cpu.py'
R50_LADDER = [PAFPN_R50] + [
    ABLATIONS / f'mask-rcnn_r50_pafpn_{rung}_1x_coco.py'
    for rung in ('afp', 'afp_ff', 'afp_ff_4conv1fc')
]
TOY_LADDER = [PAFPN_TOY] + [
    ABLATIONS / f'mask-rcnn_r18_pafpn_{rung}_toy-cpu.py'
    for rung in ('afp', 'afp_ff', 'afp_ff_4conv1fc')
]
STRIDES = (4, 8, 16, 32)
NUM_CLASSES = 3


@pytest.fixture(autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')


def _extractor(level_layer='conv', fusion='max', channels=8, out=16,
               size=7, norm_cfg=dict(type='GN', num_groups=4)):
    torch.manual_seed(0)
    extractor = MODELS.build(
        dict(type='AdaptiveFeaturePoolingRoIExtractor',
             roi_layer=dict(type='RoIAlign', output_size=size,
                            sampling_ratio=2),
             out_channels=channels, featmap_strides=list(STRIDES),
             level_layer=level_layer, level_out_channels=out,
             norm_cfg=norm_cfg, fusion=fusion))
    extractor.init_weights()
    return extractor


def _feats(channels=8, batch=2, size=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, channels, size // s, size // s,
                    generator=generator) for s in STRIDES)


ROIS = torch.tensor([[0, 2., 3., 30., 25.], [1, 10., 4., 60., 62.],
                     [0, 20., 20., 24., 23.], [1, 0., 0., 63., 63.]])


def _mask_head(num_convs=3, fusion_from_conv=2, relu=True, agnostic=False):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(type='FullyConnectedFusionMaskHead', num_convs=num_convs,
             in_channels=16, conv_out_channels=16, num_classes=NUM_CLASSES,
             class_agnostic=agnostic, fusion_from_conv=fusion_from_conv,
             fusion_fc_relu=relu, norm_cfg=dict(type='GN', num_groups=4)))
    head.init_weights()
    return head


# ------------------------------------------------------ adaptive pooling
@pytest.mark.parametrize('level_layer', ['conv', 'fc'])
def test_level_layers_are_separate_and_each_gets_gradient(level_layer):
    extractor = _extractor(level_layer)
    layers = extractor.level_layers
    assert len(layers) == len(STRIDES)
    params = [dict(layer.named_parameters()) for layer in layers]
    # separate modules and tensors (not one module inserted 4 times)
    assert len({id(layer) for layer in layers}) == len(STRIDES)
    for name in params[0]:
        storages = {p[name].data_ptr() for p in params}
        assert len(storages) == len(STRIDES), name
    weight = 'conv.weight' if level_layer == 'conv' else 'fc.weight'
    assert not torch.equal(params[0][weight], params[1][weight])
    out = extractor(_feats(), ROIS)
    out.square().sum().backward()
    for index, level in enumerate(params):
        for name, param in level.items():
            assert param.grad is not None, (index, name)
            assert param.grad.abs().sum() > 0, (index, name)


@pytest.mark.parametrize('fusion', ['max', 'sum'])
@pytest.mark.parametrize('level_layer', ['conv', 'fc'])
def test_fusion_equals_a_loop_over_rois_and_levels(fusion, level_layer):
    """Each RoI alone, RoIAligned on every level at that level's scale,
    through that level's layer, fused one level at a time."""
    extractor = _extractor(level_layer, fusion).eval()
    feats = _feats()
    expected = []
    with torch.no_grad():
        for roi in ROIS:
            fused = None
            for level, stride in enumerate(STRIDES):
                grid = roi_align(feats[level], roi[None], (7, 7),
                                 1.0 / stride, 2, 'avg', True)
                out = extractor.level_layers[level](grid)
                if fused is None:
                    fused = out
                elif fusion == 'max':
                    fused = torch.maximum(fused, out)
                else:
                    fused = fused + out
            expected.append(fused)
        actual = extractor(feats, ROIS)
    expected = torch.cat(expected)
    size = 7 if level_layer == 'conv' else 1
    assert actual.shape == (len(ROIS), 16, size, size)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_max_fusion_uses_every_level_without_level_assignment():
    """A small RoI (mmdet's SingleRoIExtractor maps it to the finest level)
    follows a coarse level when only that level carries signal."""
    extractor = _extractor(norm_cfg=None).eval()
    feats = [torch.zeros_like(f) for f in _feats()]
    feats[3] = torch.rand_like(feats[3]) + 1
    with torch.no_grad():
        actual = extractor(feats, ROIS[2:3])
        grid = roi_align(feats[3], ROIS[2:3], (7, 7), 1 / 32, 2, 'avg', True)
        coarse = extractor.level_layers[3](grid)
        zeros = [
            layer(torch.zeros_like(grid))
            for layer in extractor.level_layers[:3]
        ]
    torch.testing.assert_close(
        actual, torch.stack([coarse, *zeros]).amax(0))
    assert not torch.allclose(actual, zeros[0])


def test_extractor_rejects_unknown_options():
    with pytest.raises(ValueError, match='fusion'):
        _extractor(fusion='avg')
    with pytest.raises(ValueError, match='level_layer'):
        _extractor(level_layer='mlp')


def test_extractor_decouples_fpn_and_head_widths():
    extractor = _extractor(channels=8, out=24, norm_cfg=None)
    assert extractor(_feats(8), ROIS).shape == (4, 24, 7, 7)


# ------------------------------------------------- fully-connected fusion
def test_fusion_branch_shapes_and_tap():
    head = _mask_head()
    assert [c.out_channels for c in head.fusion_convs] == [16, 8]
    assert head.fusion_fc.in_features == 8 * 14 * 14
    assert head.fusion_fc.out_features == 28 * 28
    taps = {}
    head.convs[1].register_forward_hook(
        lambda m, i, o: taps.setdefault('conv', o))
    head.fusion_convs[0].register_forward_hook(
        lambda m, i, o: taps.setdefault('branch', i[0]))
    x = torch.randn(5, 16, 14, 14)
    out = head(x)
    assert out.shape == (5, NUM_CLASSES, 28, 28)
    # the branch reads the output of the head's 2nd conv (PANet's conv3)
    assert taps['branch'] is taps['conv']
    assert head.fused_logits(taps['conv']).shape == (5, 1, 28, 28)


@pytest.mark.parametrize('agnostic', [False, True])
def test_fused_mask_is_added_to_every_class(agnostic):
    head = _mask_head(agnostic=agnostic).eval()
    with torch.no_grad():
        head.fusion_fc.bias.fill_(0.5)  # a visible fc term
        x = torch.randn(4, 16, 14, 14)
        out = head(x)
        tapped = head.convs[1](head.convs[0](x))
        fcn = head.fcn_logits(head.convs[2](tapped))
        fused = head.fused_logits(tapped)
    assert out.shape[1] == (1 if agnostic else NUM_CLASSES)
    torch.testing.assert_close(out, fcn + fused)
    difference = out - fcn
    for k in range(out.shape[1]):
        torch.testing.assert_close(difference[:, k:k + 1], fused)
    assert fused.abs().sum() > 0


def test_fc_relu_option():
    x = torch.randn(6, 16, 14, 14)
    with_relu, without = _mask_head(relu=True), _mask_head(relu=False)
    without.load_state_dict(with_relu.state_dict())
    with torch.no_grad():
        tapped = with_relu.convs[1](with_relu.convs[0](x))
        positive = with_relu.fused_logits(tapped)
        signed = without.fused_logits(tapped)
    assert with_relu.fusion_fc_relu and not without.fusion_fc_relu
    assert positive.min() >= 0 and signed.min() < 0
    torch.testing.assert_close(positive, signed.clamp(min=0))


def test_fusion_tap_bounds_and_head_input_tap():
    with pytest.raises(ValueError, match='fusion_from_conv'):
        _mask_head(num_convs=2, fusion_from_conv=3)
    head = _mask_head(num_convs=1, fusion_from_conv=0)
    assert head(torch.randn(2, 16, 14, 14)).shape == (2, NUM_CLASSES, 28,
                                                       28)


def test_fusion_fc_gets_gradient_from_every_class():
    """The loss reads only the GT class's channel; the shared fc term is in
    all of them, so every positive RoI trains it."""
    head = _mask_head(relu=False)
    out = head(torch.randn(3, 16, 14, 14))
    for k in range(NUM_CLASSES):
        head.zero_grad()
        out[:, k].sum().backward(retain_graph=True)
        assert head.fusion_fc.weight.grad.abs().sum() > 0, k


# ---------------------------------------------------------- whole model
def _model(path=TOY):
    cfg = Config.fromfile(str(path))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def _batch(model, num_gts=(3, 0), size=(96, 128), training=True):
    inputs, samples = [], []
    for seed, num_gt in enumerate(num_gts):
        if num_gt:
            gt = synthetic_gt(num_gt, size, NUM_CLASSES,
                              np.random.default_rng(seed))
        else:
            gt = InstanceData(
                labels=torch.zeros(0, dtype=torch.long),
                bboxes=torch.zeros(0, 4),
                masks=PolygonMasks([], *size))
        batch = raw_batch(size, seed, gt)
        inputs += batch['inputs']
        samples += batch['data_samples']
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training)


def _empty_proposals(count=0):
    return InstanceData(
        bboxes=torch.zeros(count, 4), scores=torch.zeros(count),
        labels=torch.zeros(count, dtype=torch.long))


def test_zero_proposals_in_an_image_train_and_predict():
    model = _model()
    data = _batch(model, num_gts=(3, 0))
    samples = data['data_samples']
    feats = model.extract_feat(data['inputs'])
    # image 0: GT only (no proposals), image 1: no GT and no proposal
    losses = model.roi_head.loss(
        feats, [_empty_proposals(), _empty_proposals()], samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    for extractor in (model.roi_head.bbox_roi_extractor,
                      model.roi_head.mask_roi_extractor):
        for name, param in extractor.named_parameters():
            assert param.grad is not None, name
    # prediction: image 0 has no proposal at all, image 1 has some
    model.eval()
    proposals = InstanceData(
        bboxes=torch.tensor([[4., 4., 60., 50.], [30., 10., 120., 90.]]),
        scores=torch.ones(2), labels=torch.zeros(2, dtype=torch.long))
    with torch.no_grad():
        results = model.roi_head.predict(
            feats, [_empty_proposals(), proposals], samples, rescale=True)
    assert len(results[0]) == 0 and results[0].masks.shape[0] == 0
    assert results[0].bboxes.shape == (0, 4)
    assert len(results[1]) == results[1].masks.shape[0]


def test_extractor_and_head_with_zero_rois():
    extractor, head = _extractor(out=16, size=14), _mask_head()
    feats = [f.requires_grad_() for f in _feats()]
    out = head(extractor(feats, ROIS[:0], roi_scale_factor=1.2))
    assert out.shape == (0, NUM_CLASSES, 28, 28)
    out.sum().backward()
    assert all(p.grad is not None for p in extractor.parameters())


def test_bf16_autocast_roi_heads_train_and_predict_masks():
    """Backbone, neck and both PANet RoI heads under CPU bf16 autocast:
    finite losses and gradients, float32 weights; mask prediction under
    autocast. The RPN proposals and the box NMS run outside autocast:
    mmcv's CPU ``nms`` rejects bfloat16, which stops every Mask R-CNN
    (PANet and the baselines) in mmdet's own RPN / box post-processing
    (project README, "Limitations")."""
    model = _model()
    data = _batch(model, num_gts=(4, 2))
    samples = data['data_samples']
    with torch.autocast('cpu', dtype=torch.bfloat16):
        feats = model.extract_feat(data['inputs'])
    assert feats[0].dtype == torch.bfloat16
    with torch.no_grad():
        proposals = model.rpn_head.predict(
            tuple(f.float() for f in feats), samples, rescale=False)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.roi_head.loss(feats, proposals, samples)
        fused = model.roi_head.mask_roi_extractor(feats, torch.zeros(0, 5))
    assert fused.shape[0] == 0
    loss, log_vars = model.parse_losses(losses)
    assert {'loss_cls', 'loss_bbox', 'loss_mask'} <= set(log_vars)
    assert all(np.isfinite(float(v)) for v in log_vars.values()), log_vars
    loss.backward()
    for extractor in (model.roi_head.bbox_roi_extractor,
                      model.roi_head.mask_roi_extractor):
        for name, param in extractor.named_parameters():
            assert param.grad is not None and torch.isfinite(
                param.grad).all(), name
    head = model.roi_head.mask_head
    assert head.fusion_fc.weight.grad.abs().sum() > 0
    assert all(p.dtype == torch.float32 for p in model.parameters())

    model.eval()
    detections = [
        InstanceData(bboxes=torch.tensor([[4., 4., 60., 50.],
                                          [30., 10., 120., 90.]]),
                     scores=torch.tensor([0.9, 0.8]),
                     labels=torch.tensor([0, 2])) for _ in samples
    ]
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        results = model.roi_head.predict_mask(
            feats, [s.metainfo for s in samples], detections, rescale=True)
    for result in results:
        assert result.masks.shape == (2, 96, 128)


# ---------------------------------------------------------------- configs
def _rung_changes(before, after):
    """Dotted keys of ``roi_head`` that differ between two model configs."""
    changed = set()

    def walk(a, b, prefix):
        for key in set(a) | set(b):
            x, y = a.get(key), b.get(key)
            if isinstance(x, dict) and isinstance(y, dict):
                walk(x, y, f'{prefix}{key}.')
            elif x != y:
                changed.add(f'{prefix}{key}')

    walk(before.model.to_dict(), after.model.to_dict(), '')
    return changed


@pytest.mark.parametrize('ladder', [R50_LADDER, TOY_LADDER])
def test_ladder_changes_one_component_per_rung(ladder):
    cfgs = [Config.fromfile(str(path)) for path in ladder]
    afp, ff, heavy = (_rung_changes(a, b) for a, b in zip(cfgs, cfgs[1:]))
    assert all(key.startswith(('roi_head.bbox_roi_extractor',
                               'roi_head.bbox_head',
                               'roi_head.mask_roi_extractor',
                               'roi_head.mask_head.num_convs'))
               for key in afp), afp
    assert cfgs[1].model.roi_head.bbox_roi_extractor.fusion == 'max'
    assert all(key.startswith('roi_head.mask_head.') for key in ff), ff
    assert cfgs[2].model.roi_head.mask_head.fusion_fc_relu is True
    assert all(key.startswith(('roi_head.bbox_roi_extractor',
                               'roi_head.bbox_head')) for key in heavy), heavy
    head = cfgs[3].model.roi_head.bbox_head
    assert (head.num_shared_convs, head.num_shared_fcs) == (3, 1)
    # the rest of each config (data, schedule, runtime) is the baseline's
    for cfg in cfgs[1:]:
        assert cfg.optim_wrapper == cfgs[0].optim_wrapper
        assert cfg.train_dataloader == cfgs[0].train_dataloader


def test_tiny_panet_is_the_tiny_ladder_top_with_gn():
    top = Config.fromfile(str(TOY_LADDER[-1])).model.to_dict()
    full = Config.fromfile(str(TOY)).model.to_dict()
    norm = dict(type='GN', num_groups=16, requires_grad=True)
    top['neck']['norm_cfg'] = norm
    for part in ('bbox_roi_extractor', 'bbox_head', 'mask_roi_extractor',
                 'mask_head'):
        top['roi_head'][part]['norm_cfg'] = norm
    for part in ('bbox_roi_extractor', 'mask_roi_extractor'):
        top['roi_head'][part]['roi_layer']['sampling_ratio'] = 2
    assert full == top


def test_r50_configs_have_the_official_values():
    cfg = Config.fromfile(str(R50_1X))
    roi = cfg.model.roi_head
    gn = dict(type='GN', num_groups=32, requires_grad=True)
    assert cfg.model.neck.type == 'PAFPN' and cfg.model.neck.norm_cfg == gn
    for part in ('bbox_roi_extractor', 'bbox_head', 'mask_roi_extractor',
                 'mask_head'):
        assert roi[part].norm_cfg == gn, part
    for part, size in (('bbox_roi_extractor', 7), ('mask_roi_extractor', 14)):
        assert roi[part].type == 'AdaptiveFeaturePoolingRoIExtractor'
        assert roi[part].fusion == 'max' and roi[part].level_layer == 'conv'
        assert roi[part].roi_layer.output_size == size
        assert roi[part].roi_layer.sampling_ratio == 2
    assert (roi.bbox_head.num_shared_convs, roi.bbox_head.num_shared_fcs,
            roi.bbox_head.fc_out_channels) == (3, 1, 1024)
    assert roi.mask_head.type == 'FullyConnectedFusionMaskHead'
    assert (roi.mask_head.num_convs, roi.mask_head.fusion_from_conv,
            roi.mask_head.fusion_fc_relu) == (3, 2, True)
    assert cfg.model.backbone.style == 'caffe'
    assert cfg.model.backbone.frozen_stages == 1
    assert cfg.model.rpn_head.loss_bbox.beta == pytest.approx(1 / 9)
    assert roi.bbox_head.loss_bbox.beta == pytest.approx(1 / 3)
    assert cfg.model.train_cfg.rcnn.sampler.num == 512
    assert cfg.model.train_cfg.rcnn.sampler.pos_fraction == 0.25
    assert cfg.model.test_cfg.rcnn.nms.iou_threshold == 0.5
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        bias_lr_mult=2., bias_decay_mult=0., norm_decay_mult=0.)
    assert cfg.param_scheduler[0].start_factor == pytest.approx(1 / 3)
    assert cfg.train_cfg.max_epochs == 12

    ms = Config.fromfile(str(R50_2X))
    assert ms.train_cfg.max_epochs == 24
    assert ms.param_scheduler[1].milestones == [16, 22]
    resize = ms.train_dataloader.dataset.pipeline[2]
    assert resize.type == 'RandomChoiceResize'
    assert sorted({s[1] for s in resize.scales}) == [400, 600, 800, 1000,
                                                     1200]
    assert all(s[0] == 1400 for s in resize.scales)
    assert ms.test_dataloader.dataset.pipeline[1].scale == (1400, 1000)
    assert ms.model == cfg.model


def test_r50_panet_head_shapes():
    """The built R-50 heads: 4 x 256-channel conv1 per level, FF fc
    128 x 14 x 14 -> 784."""
    cfg = Config.fromfile(str(R50_1X))
    roi_head = MODELS.build(cfg.model.roi_head)
    for extractor in (roi_head.bbox_roi_extractor,
                      roi_head.mask_roi_extractor):
        assert len(extractor.level_layers) == 4
        assert extractor.level_layers[0].conv.weight.shape == (256, 256, 3,
                                                               3)
    head = roi_head.mask_head
    assert len(head.convs) == 3
    assert head.fusion_fc.in_features == 128 * 14 * 14
    assert head.fusion_fc.out_features == 784
    assert head.fusion_convs[-1].norm_name == 'gn'
