"""SparseInst (projects/SparseInst): module shapes, the matcher against brute
force, group IAMs for any G, inputs without ground truth, empty results,
bf16 autocast, and the official values of the R-50 configs."""
import copy
import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from conftest import REPO_ROOT
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.mask import PolygonMasks
from mmdet_ext.structures.rle_masks import RLEMasks
from mmdet_ext.testing import synthetic_gt
from mmdet_ext.utils.forced_detections import raw_batch
from projects.SparseInst.sparseinst.decoder import (GroupInstanceBranch,
                                                    MaskBranch,
                                                    coordinate_features)
from projects.SparseInst.sparseinst.sparseinst import rasterize_gt_masks

CONFIGS = REPO_ROOT / 'projects' / 'SparseInst' / 'configs'
TOY = CONFIGS / 'sparseinst_r18_iam_toy-cpu.py'
R50_IAM = CONFIGS / 'sparseinst_r50_iam_8xb8-ms-270k_coco.py'
R50_GIAM = CONFIGS / 'sparseinst_r50_giam_8xb8-ms-270k_coco.py'
NUM_CLASSES = 3


@pytest.fixture(autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')


def _model_cfg(path=TOY, **decoder):
    cfg = Config.fromfile(str(path))
    model = copy.deepcopy(cfg.model)
    model.backbone.init_cfg = None
    model.decoder.update(decoder)
    return model


def _build(path=TOY, seed=0, **decoder):
    torch.manual_seed(seed)
    model = MODELS.build(_model_cfg(path, **decoder))
    model.init_weights()
    return model


def _train_data(model, num_gt, size=(96, 128), seed=0):
    gt = synthetic_gt(num_gt, size, NUM_CLASSES, np.random.default_rng(seed))
    if num_gt == 0:
        gt = InstanceData(
            labels=torch.zeros(0, dtype=torch.long),
            bboxes=torch.zeros(0, 4),
            masks=PolygonMasks([], *size))
    return model.data_preprocessor(raw_batch(size, seed, gt), True)


def _backward_total(losses):
    total = sum(losses.values())
    total.backward()
    return total


# ------------------------------------------------------------------ shapes
def test_encoder_shapes():
    encoder = MODELS.build(
        dict(type='InstanceContextEncoder', in_channels=[8, 16, 32],
             out_channels=12))
    encoder.init_weights()
    feats = (torch.rand(2, 4, 40, 56), torch.rand(2, 8, 20, 28),
             torch.rand(2, 16, 10, 14), torch.rand(2, 32, 5, 7))
    assert encoder(feats).shape == (2, 12, 20, 28)
    # odd sizes (no exact 2x between levels) still fuse at the finest size
    feats = (torch.rand(1, 8, 13, 9), torch.rand(1, 16, 7, 5),
             torch.rand(1, 32, 4, 3))
    assert encoder(feats).shape == (1, 12, 13, 9)


def test_pyramid_pooling_shapes():
    ppm = MODELS.build(dict(type='PyramidPoolingModule', in_channels=16))
    assert ppm(torch.rand(2, 16, 5, 7)).shape == (2, 16, 5, 7)
    assert ppm.stages[0].out_channels == 4  # in_channels / 4 per bin


@pytest.mark.parametrize('decoder, extra', [
    ('BaseIAMDecoder', {}),
    ('GroupIAMDecoder', dict(num_groups=4)),
    ('GroupIAMSoftDecoder', dict(num_groups=4)),
])
def test_decoder_shapes(decoder, extra):
    head = MODELS.build(
        dict(type=decoder, in_channels=16, num_classes=5, num_masks=7,
             inst_dim=16, inst_convs=1, mask_dim=8, mask_convs=1,
             kernel_dim=6, output_iam=True, **extra))
    head.init_weights()
    out = head(torch.rand(2, 16, 6, 10))
    assert out['pred_logits'].shape == (2, 7, 5)
    assert out['pred_scores'].shape == (2, 7, 1)
    assert out['pred_masks'].shape == (2, 7, 12, 20)
    assert out['pred_masks'].dtype == torch.float32
    groups = extra.get('num_groups', 1)
    assert out['pred_iam'].shape == (2, 7 * groups, 12, 20)
    # the classifier and IAM start at the focal prior 0.01
    assert head.inst_branch.cls_score.bias[0].item() == pytest.approx(
        -4.595, abs=1e-3)


def test_mask_upsamples_start_as_nearest_upsampling_of_the_paper_branch():
    """``MaskBranch(num_upsamples=1)`` at initialisation is the paper's
    branch followed by nearest upsampling, so training starts from it."""
    paper = MaskBranch(10, dim=16, num_convs=2, kernel_dim=8)
    finer = MaskBranch(10, dim=16, num_convs=2, kernel_dim=8,
                       num_upsamples=1)
    for branch in (paper, finer):
        torch.manual_seed(0)
        branch.init_weights()
    x = torch.randn(2, 10, 6, 7)
    torch.testing.assert_close(
        finer(x), F.interpolate(paper(x), scale_factor=2, mode='nearest'))
    with pytest.raises(ValueError, match='non-negative'):
        MaskBranch(10, num_upsamples=-1)


def test_decoder_with_mask_upsamples_keeps_masks_and_iams_aligned():
    head = MODELS.build(
        dict(type='BaseIAMDecoder', in_channels=16, num_classes=5,
             num_masks=7, inst_dim=16, inst_convs=1, mask_dim=8,
             mask_convs=1, kernel_dim=6, mask_upsamples=1,
             output_iam=True))
    head.init_weights()
    out = head(torch.rand(2, 16, 6, 10))
    assert out['pred_masks'].shape == (2, 7, 24, 40)  # stride 8 -> 2
    assert out['pred_iam'].shape == (2, 7, 24, 40)


def test_coordinates_include_corners_and_survive_size_one():
    coords = coordinate_features(torch.zeros(2, 3, 4, 5))
    assert coords.shape == (2, 2, 4, 5)
    assert coords[0, 0, 0].tolist() == pytest.approx([-1, -.5, 0, .5, 1])
    assert coords[0, 1, :, 0].tolist() == pytest.approx(
        [-1, -1 / 3, 1 / 3, 1])
    assert torch.isfinite(coordinate_features(torch.zeros(1, 1, 1, 1))).all()


def test_model_shapes_and_targets_rasterised_once(monkeypatch):
    model = _build()
    data = _train_data(model, num_gt=4)
    inputs = data['inputs']
    assert inputs.shape[-2:] == (96, 128)  # padded to a multiple of 32
    feats = model.extract_feat(inputs)
    assert feats.shape == (1, 64, 12, 16)
    out = model._forward(inputs)
    assert out['pred_masks'].shape == (1, 100, 24, 32)

    calls = []
    original = PolygonMasks.to_ndarray
    monkeypatch.setattr(PolygonMasks, 'to_ndarray',
                        lambda self: calls.append(1) or original(self))
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_obj', 'loss_dice', 'loss_mask'}
    assert len(calls) == 1  # one image, rasterised once (not per consumer)
    assert torch.isfinite(_backward_total(losses))


def test_soft_targets_are_the_bilinear_downsampling_of_the_padded_masks():
    model = _build()
    data = _train_data(model, num_gt=3, size=(90, 120))
    sample = data['data_samples'][0]
    targets = model.mask_targets(data['data_samples'], (24, 32))
    full = rasterize_gt_masks(sample.gt_instances.masks, (96, 128), 'cpu')
    assert full.shape == (3, 96, 128) and full[:, 90:].sum() == 0
    # bilinear x1/4 (align_corners=False) = mean of the two middle rows and
    # columns of every 4 x 4 cell
    expected = full.float()[:, 1::4, 1::4] + full.float()[:, 2::4, 1::4] + \
        full.float()[:, 1::4, 2::4] + full.float()[:, 2::4, 2::4]
    torch.testing.assert_close(targets[0].masks, expected / 4)


def test_scale_factor_8_trains_the_masks_on_the_padded_input_grid():
    """``decoder.scale_factor=8.0`` (stride 8 -> 1) computes the mask losses
    at input resolution: the targets are the rasterised GT themselves, not
    their stride-4 averages, and inference still fits the harness."""
    model = _build(scale_factor=8.0)
    data = _train_data(model, num_gt=3, size=(90, 120))
    out = model._forward(data['inputs'])
    assert out['pred_masks'].shape == (1, 100, 96, 128)
    sample = data['data_samples'][0]
    targets = model.mask_targets(data['data_samples'], (96, 128))
    full = rasterize_gt_masks(sample.gt_instances.masks, (96, 128), 'cpu')
    torch.testing.assert_close(targets[0].masks, full.float())
    assert torch.isfinite(_backward_total(model(**data, mode='loss')))
    pred = _predict(model, rescale=True)
    assert pred.masks.to_ndarray().shape == (len(pred), 180, 240)


# --------------------------------------------------------------- group IAM
@pytest.mark.parametrize('num_groups', [2, 8])
def test_group_iam_groups_the_features_of_each_instance(num_groups):
    """Instance i concatenates the features pooled by maps g * N + i,
    g = 0..G-1 (the official reshape hard-codes 4 groups)."""
    num_masks, dim = 3, 16
    branch = GroupInstanceBranch(
        dim + 2, 4, num_masks=num_masks, dim=dim, num_convs=1,
        kernel_dim=5, num_groups=num_groups)
    branch.init_weights()
    assert branch.iam_conv.groups == num_groups
    assert branch.iam_conv.out_channels == num_groups * num_masks
    features = torch.rand(2, dim, 6, 7)
    iam = torch.randn(2, num_groups * num_masks, 6, 7)
    pooled = branch.pool(iam, features)  # (B, G * N, C)
    captured = {}
    branch.fc.register_forward_hook(
        lambda m, args, out: captured.setdefault('x', args[0]))
    out = branch.instance_features(iam, features)
    assert out.shape == (2, num_masks, num_groups * dim)
    x = captured['x']
    for i in range(num_masks):
        for g in range(num_groups):
            torch.testing.assert_close(x[:, i, g * dim:(g + 1) * dim],
                                       pooled[:, g * num_masks + i])


@pytest.mark.parametrize('num_groups', [2, 8])
def test_model_trains_with_num_groups(num_groups):
    model = _build(type='GroupIAMDecoder', num_groups=num_groups)
    losses = model(**_train_data(model, num_gt=3), mode='loss')
    assert torch.isfinite(_backward_total(losses))


def test_num_groups_must_divide_the_width():
    with pytest.raises(ValueError, match='num_groups'):
        GroupInstanceBranch(10, 3, dim=12, num_groups=5)


# ----------------------------------------------------------------- matcher
def _brute_force_best(cost):
    """Highest total over all one-to-one assignments of min(N, G) pairs."""
    n, g = cost.shape
    best = -1.
    for rows in itertools.permutations(range(n), min(n, g)):
        if g <= n:
            total = sum(cost[r, c] for c, r in enumerate(rows))
        else:
            total = max(
                sum(cost[r, c] for r, c in zip(rows, cols))
                for cols in itertools.permutations(range(g), n))
        best = max(best, total)
    return best


@pytest.mark.parametrize('num_preds, num_gt', [(4, 2), (3, 3), (5, 4),
                                               (2, 4)])
def test_matcher_equals_brute_force(num_preds, num_gt):
    matcher = TASK_UTILS.build(dict(type='SparseInstMatcher'))
    gen = torch.Generator().manual_seed(num_preds * 10 + num_gt)
    for _ in range(5):
        cls_logits = torch.randn(num_preds, 3, generator=gen)
        mask_logits = 3 * torch.randn(num_preds, 5, 6, generator=gen)
        labels = torch.randint(0, 3, (num_gt, ), generator=gen)
        masks = torch.rand(num_gt, 5, 6, generator=gen).round()
        cost = matcher.cost(cls_logits, mask_logits, labels, masks)
        # the formula: Dice^0.8 * p^0.2
        p = mask_logits.flatten(1).sigmoid()
        t = masks.flatten(1)
        dice = 2 * p @ t.T / ((p * p).sum(1)[:, None] +
                              (t * t).sum(1)[None] + 1e-4)
        expected = dice**0.8 * cls_logits.sigmoid()[:, labels]**0.2
        torch.testing.assert_close(cost, expected)
        pred_inds, gt_inds = matcher.match_single(cls_logits, mask_logits,
                                                  labels, masks)
        assert pred_inds.dtype == gt_inds.dtype == torch.long
        assert len(pred_inds) == min(num_preds, num_gt)
        assert len(set(pred_inds.tolist())) == len(pred_inds)
        total = cost[pred_inds, gt_inds].sum().item()
        assert total == pytest.approx(_brute_force_best(cost.numpy()),
                                      abs=1e-6)


def test_matcher_without_gt_and_with_non_finite_predictions():
    matcher = TASK_UTILS.build(dict(type='SparseInstMatcher'))
    pred_inds, gt_inds = matcher.match_single(
        torch.randn(4, 3), torch.randn(4, 5, 5),
        torch.zeros(0, dtype=torch.long), torch.zeros(0, 5, 5))
    assert pred_inds.dtype == torch.long and len(pred_inds) == 0
    assert len(gt_inds) == 0
    # NaN / inf logits (an overflowed half-precision forward) still match
    mask_logits = torch.randn(4, 5, 5)
    mask_logits[0] = float('nan')
    mask_logits[1, 0, 0] = float('inf')
    cls_logits = torch.randn(4, 3)
    cls_logits[2] = float('-inf')
    cost = matcher.cost(cls_logits, mask_logits, torch.tensor([0, 1]),
                        torch.ones(2, 5, 5))
    assert torch.isfinite(cost).all()
    pred_inds, _ = matcher.match_single(cls_logits, mask_logits,
                                        torch.tensor([0, 1]),
                                        torch.ones(2, 5, 5))
    assert len(pred_inds) == 2


# ------------------------------------------------------- bad / empty input
def test_batch_without_gt_trains_with_finite_losses():
    model = _build()
    losses = model(**_train_data(model, num_gt=0), mode='loss')
    assert losses['loss_cls'] > 0  # all queries are background
    for key in ('loss_obj', 'loss_dice', 'loss_mask'):
        assert losses[key].item() == 0
    _backward_total(losses)
    # every parameter of the decoder is still in the graph (DDP)
    for name, param in model.decoder.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


def test_batch_mixing_images_with_and_without_gt():
    model = _build()
    size = (64, 64)
    batch = raw_batch(size, 0, synthetic_gt(2, size, NUM_CLASSES,
                                            np.random.default_rng(0)))
    empty = raw_batch(size, 1, InstanceData(
        labels=torch.zeros(0, dtype=torch.long), bboxes=torch.zeros(0, 4),
        masks=PolygonMasks([], *size)))
    for key in ('inputs', 'data_samples'):
        batch[key] += empty[key]
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_dice'] > 0


def _predict(model, size=(90, 120), ori=(180, 240), rescale=True):
    batch = raw_batch(size, 0)
    sample = batch['data_samples'][0]
    sample.set_metainfo(dict(ori_shape=ori, scale_factor=(
        size[1] / ori[1], size[0] / ori[0])))
    data = model.data_preprocessor(batch, False)
    model.eval()
    with torch.no_grad():
        return model.predict(
            data['inputs'], data['data_samples'],
            rescale=rescale)[0].pred_instances


@pytest.mark.parametrize('rescale', [True, False])
def test_predictions_fit_the_harness(rescale):
    model = _build()
    pred = _predict(model, rescale=rescale)
    shape = (180, 240) if rescale else (90, 120)
    assert 0 < len(pred) <= 100
    assert isinstance(pred.masks, RLEMasks)
    masks = pred.masks.to_ndarray()
    assert masks.shape == (len(pred), *shape)  # 3-D also without rescale
    assert pred.bboxes.shape == (len(pred), 4)
    assert (pred.scores[:-1] >= pred.scores[1:]).all()  # sorted
    for mask, box in zip(masks, pred.bboxes.tolist()):
        ys, xs = np.nonzero(mask)
        expected = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] \
            if len(xs) else [0, 0, 0, 0]
        assert box == pytest.approx(expected)


def test_empty_result_has_every_field():
    model = _build()
    model.test_cfg.score_thr = 1.0  # nothing passes
    pred = _predict(model)
    assert len(pred) == 0
    assert pred.bboxes.shape == (0, 4) and pred.scores.shape == (0, )
    assert pred.labels.dtype == torch.long
    assert isinstance(pred.masks, RLEMasks) and len(pred.masks) == 0
    assert pred.masks.to_ndarray().shape == (0, 180, 240)
    model.test_cfg.mask_output = False
    pred = _predict(model)
    assert pred.bboxes.shape == (0, 4) and 'masks' not in pred


def test_mask_output_off_returns_boxes_without_masks():
    model = _build()
    with_masks = _predict(model)
    model.test_cfg.mask_output = False
    boxes_only = _predict(model)
    assert 'masks' not in boxes_only
    torch.testing.assert_close(boxes_only.scores, with_masks.scores)
    # boxes of the stride-4 masks: within a stride (x2 for the rescale)
    assert (boxes_only.bboxes - with_masks.bboxes).abs().max() <= 8 + 1e-4


def test_missing_test_cfg_takes_the_official_defaults():
    cfg = _model_cfg()
    cfg.test_cfg = None
    model = MODELS.build(cfg)
    assert model.test_cfg == dict(score_thr=0.005, mask_thr=0.45,
                                  max_per_img=100, mask_output=True)


def test_criterion_and_decoder_class_counts_must_agree():
    cfg = _model_cfg()
    cfg.criterion.num_classes = 5
    with pytest.raises(ValueError, match='num_classes'):
        MODELS.build(cfg)


# ---------------------------------------------------------------- bfloat16
def test_bf16_autocast_step_has_finite_losses_and_costs():
    model = _build(type='GroupIAMDecoder', num_groups=4)
    data = _train_data(model, num_gt=5)
    costs = []
    matcher = model.criterion.matcher
    original = matcher.cost
    matcher.cost = lambda *args: costs.append(original(*args)) or costs[-1]
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out = model._forward(data['inputs'])
        losses = model(**data, mode='loss')
    assert out['pred_logits'].dtype == torch.bfloat16  # autocast is on
    assert out['pred_masks'].dtype == torch.float32  # masks stay fp32
    assert costs and all(
        c.dtype == torch.float32 and torch.isfinite(c).all() for c in costs)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    _backward_total(losses)
    for name, param in model.named_parameters():
        if param.grad is not None:
            assert torch.isfinite(param.grad).all(), name


# ------------------------------------------------------- official configs
OFFICIAL = {
    'model.backbone.depth': 50,
    'model.backbone.style': 'pytorch',
    'model.backbone.frozen_stages': -1,  # stem trainable (FREEZE_AT 0)
    'model.backbone.norm_eval': True,
    'model.backbone.norm_cfg.requires_grad': False,
    'model.backbone.out_indices': (1, 2, 3),
    'model.data_preprocessor.pad_size_divisor': 32,
    'model.encoder.out_channels': 256,
    'model.decoder.num_masks': 100,
    'model.decoder.inst_dim': 256,
    'model.decoder.inst_convs': 4,
    'model.decoder.mask_dim': 256,
    'model.decoder.mask_convs': 4,
    'model.decoder.kernel_dim': 128,
    'model.decoder.scale_factor': 2.0,
    'model.criterion.matcher.alpha': 0.8,
    'model.criterion.matcher.beta': 0.2,
    'model.criterion.loss_cls.loss_weight': 2.0,
    'model.criterion.loss_cls.alpha': 0.25,
    'model.criterion.loss_cls.gamma': 2.0,
    'model.criterion.loss_obj.loss_weight': 1.0,
    'model.criterion.loss_dice.loss_weight': 2.0,
    'model.criterion.loss_dice.eps': 5e-5,
    'model.criterion.loss_mask.loss_weight': 5.0,
    'model.test_cfg.score_thr': 0.005,
    'model.test_cfg.mask_thr': 0.45,
    'optim_wrapper.optimizer.type': 'AdamW',
    'optim_wrapper.optimizer.lr': 5e-5,
    'optim_wrapper.optimizer.weight_decay': 0.05,
    'optim_wrapper.paramwise_cfg.norm_decay_mult': 0.0,
    'train_cfg.max_iters': 270000,
    'param_scheduler.0.start_factor': 0.001,
    'param_scheduler.0.end': 1000,
    'param_scheduler.1.milestones': [210000, 250000],
    'auto_scale_lr.base_batch_size': 64,
    'train_dataloader.batch_size': 8,
    'train_dataloader.dataset.pipeline.2.scales': [(853, s) for s in range(
        416, 641, 32)],
    'train_dataloader.dataset.pipeline.3.prob': 0.5,
    'test_dataloader.dataset.pipeline.1.scale': (853, 640),
}


def _lookup(cfg, dotted):
    value = cfg
    for key in dotted.split('.'):
        value = value[int(key)] if isinstance(value, (list, tuple)) \
            else value[key]
    return value


@pytest.mark.parametrize('path, decoder', [(R50_IAM, 'BaseIAMDecoder'),
                                           (R50_GIAM, 'GroupIAMDecoder')])
def test_r50_configs_have_the_official_values(path, decoder):
    cfg = Config.fromfile(str(path))
    wrong = {
        key: (_lookup(cfg, key), value)
        for key, value in OFFICIAL.items()
        if _lookup(cfg, key) != (list(value) if isinstance(value, list)
                                 else value)
    }
    assert not wrong, f'(actual, official): {wrong}'
    assert cfg.model.decoder.type == decoder
    assert cfg.model.decoder.get('num_groups', 4) == 4
    assert cfg.model.decoder.get('mask_upsamples', 0) == 0  # stride 8
    model = MODELS.build(_model_cfg(path))
    assert sum(p.numel() for p in model.backbone.conv1.parameters()
               if p.requires_grad) > 0  # stem trains
    assert not any(p.requires_grad for p in model.backbone.bn1.parameters())


def test_only_the_overfit_config_upsamples_the_masks_to_stride_2():
    """The learnability config trains stride-2 masks (small objects); the
    toy config, like the paper's, keeps stride 4."""
    overfit = Config.fromfile(
        str(CONFIGS / 'sparseinst_r18_iam_overfit-coco128-cpu.py'))
    assert overfit.model.decoder.scale_factor == 4.0
    assert Config.fromfile(str(TOY)).model.decoder.scale_factor == 2.0


def test_no_deprecation_warnings_from_the_project():
    """No deprecated ``meshgrid`` (without ``indexing``) or
    ``torch.cuda.amp.autocast`` call in training or inference."""
    model = _build(type='GroupIAMDecoder')
    data = _train_data(model, num_gt=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
            _backward_total(model(**data, mode='loss'))
        _predict(model)
    ours = [
        w for w in caught
        if 'SparseInst' in w.filename or 'meshgrid' in str(w.message)
        or 'torch.cuda.amp' in str(w.message)
    ]
    assert not ours, [str(w.message) for w in ours]
