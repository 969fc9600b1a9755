"""tools/analysis_tools/compare_models.py on the tiny R-18 configs, through
the rows its ``main`` returns: every model's numbers, the forward /
post-processing split, GMACs, the training breakdown from the library's
profiler scopes, Runner.test accuracy, and the written reports.

One model per code path keeps the run short: PolarNeXt (single-stage polar:
two rows, forced detections, library scopes), FCOS on its backbone (boxes
only, the GMACs reference), SparseInst (query-based: not forced, boxes-only
row) and Mask R-CNN (two-stage: no forward / post split). The training step
and GMACs themselves are tested in tests/test_utils/test_train_step_profile.py
and test_benchmark_utils... through the library."""
import copy
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT, load_tool
from mmdet_ext.utils.benchmark import build_model
from mmdet_ext.utils.forced_detections import (FORCED_RAY_BIAS,
                                               force_detections, raw_batch)
from mmdet_ext.utils import model_comparison
from mmdet_ext.utils.model_comparison import (MODEL_SPECS, SPECS,
                                              inference_cases,
                                              with_fcos_head)

SCRIPT = 'tools/analysis_tools/compare_models.py'
QUICK = [
    '--variant', 'toy', '--size', '96x128', '--repeats', '1', '--warmup',
    '0', '--train-repeats', '1', '--threads', '1', '--num-gt', '4',
    '--candidates', '200'
]
SINGLE_STAGE = ('polarnext', 'polarmask', 'fcos', 'solov2')
# One model per code path (see the module docstring).
REPRESENTATIVE = ['polarnext', 'fcos', 'sparseinst', 'mask-rcnn']


@pytest.fixture(scope='module')
def tool():
    init_default_scope('mmdet')
    return load_tool(SCRIPT)


@pytest.fixture(scope='module')
def full_run(tool, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('compare')
    lines = []
    numbers = tool.main(QUICK + ['--models', *REPRESENTATIVE, '--out-dir',
                                 str(out_dir)], lines.append)
    return out_dir, {n['label']: n for n in numbers}, '\n'.join(lines)


def _non_blank_png(path, min_size, min_coloured):
    """A chart of at least ``min_size`` with ``min_coloured`` saturated
    pixels (bars, markers) on its white and grey background."""
    image = cv2.imread(str(path))
    assert image is not None, path
    assert image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
    coloured = (image.max(-1).astype(int) - image.min(-1)) > 60
    assert coloured.sum() >= min_coloured, coloured.sum()


def test_every_model_has_its_rows(tool, full_run):
    _, rows, _ = full_run
    expected = []
    for spec in MODEL_SPECS:
        if spec.key in REPRESENTATIVE:
            expected += [f'{spec.name} ({spec.fast_label})', spec.name] \
                if spec.key in ('polarnext', 'polarmask', 'sparseinst') \
                else [spec.name]
    assert list(rows) == expected
    for label, n in rows.items():
        assert n['inference_ms'] > 0 and n['params_m'] > 1  # R-18 models
        assert n['detections'] > 0  # forced, or SparseInst's queries
        fast = label.endswith(('(polygons only)', '(boxes only)'))
        assert n['has_masks'] == (not fast and n['model'] != 'fcos')
        assert (n['train_ms'] is None) == fast
        if not fast:  # fp32 weights and more
            assert n['train_memory_mb'] > 4 * n['params_m']
    assert rows['PolarNeXt']['reference']
    assert rows['PolarNeXt']['inference_ratio'] == 1.0
    ratio = rows['Mask R-CNN']['inference_ms'] / rows['PolarNeXt'][
        'inference_ms']
    assert rows['Mask R-CNN']['inference_ratio'] == pytest.approx(ratio)
    assert rows['Mask R-CNN']['memory_ratio'] == pytest.approx(
        rows['Mask R-CNN']['train_memory_mb'] /
        rows['PolarNeXt']['train_memory_mb'])
    # SparseInst is not forced: all its 100 queries pass at random init
    assert rows['SparseInst']['detections'] == 100
    # every RPN proposal is a class-0 detection; NMS keeps many
    assert rows['Mask R-CNN']['detections'] > 50


def test_forward_post_split_and_gmacs(full_run):
    _, rows, _ = full_run
    for label, n in rows.items():
        split = n['model'] in SINGLE_STAGE
        assert (n['forward_ms'] is not None) == split, label
        assert (n['post_ms'] is not None) == split, label
    # One forward for both rows of a polar model; masks cost post-processing
    assert rows['PolarNeXt']['forward_ms'] == \
        rows['PolarNeXt (polygons only)']['forward_ms']
    # PolarNeXt's head differs from FCOS's on the same backbone only in its
    # 36 ray channels instead of 4 box channels: a little more compute.
    fcos = rows['FCOS (PolarNeXt backbone)']['gmacs']
    assert 1.0 < rows['PolarNeXt']['gmacs'] / fcos < 1.1
    assert rows['Mask R-CNN']['gmacs'] > fcos


def test_training_breakdown_reads_the_library_scopes(full_run):
    _, rows, _ = full_run
    steps = rows['PolarNeXt']['train_breakdown']
    whole = steps['step/forward + losses']
    build = steps['polar_targets/build']
    parts = [v for k, v in steps.items()
             if k.startswith('polar_targets/') and k != 'polar_targets/build']
    assert {'polar_targets/candidates', 'polar_targets/ray_targets',
            'polar_targets/matcher', 'polar_targets/soft_masks',
            'polarnext_head/losses', 'step/backbone forward',
            'step/neck forward', 'step/bbox_head forward',
            'step/backward'} <= set(steps)
    assert 0 < sum(parts) <= build <= steps['polarnext_head/targets'] < whole
    assert list(steps)[0] == 'step/data_preprocessor'
    assert list(steps)[-2:] == ['step/forward + losses', 'step/backward']
    # FCOS has none of the polar scopes
    assert not any(k.startswith('polar') for k in
                   rows['FCOS (PolarNeXt backbone)']['train_breakdown'])
    assert 'step/rpn_head forward' in rows['Mask R-CNN']['train_breakdown']


def test_reports_written(full_run):
    out_dir, rows, printed = full_run
    text = (out_dir / 'compare_models.md').read_text()
    assert text.startswith('# Model comparison')
    assert '--variant toy' in text and 'Load average at the end' in text
    assert f'torch {torch.__version__}' in text
    assert '| PolarNeXt ' in text and '| polar_targets/build ' in text
    saved = json.loads((out_dir / 'compare_models.json').read_text())
    assert [r['label'] for r in saved['rows']] == list(rows)
    _non_blank_png(out_dir / 'compare_models.png', (300, 500), 5000)
    assert not (out_dir / 'speed_accuracy.png').exists()
    assert 'written:' in printed


def test_checkpoint_evaluates_with_runner_and_plots(tool, toy_root,
                                                    tmp_path):
    # a randomly initialised tiny PolarNeXt that detects, as a checkpoint
    cfg = Config.fromfile(str(REPO_ROOT / SPECS['polarnext'].toy))
    model = build_model(cfg.model, torch.device('cpu')).eval()
    inputs = model.data_preprocessor(raw_batch((192, 256), 0),
                                     False)['inputs']
    force_detections(model, inputs, 300)
    ckpt = tmp_path / 'polarnext.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(ckpt))
    numbers = tool.main(QUICK + [
        '--models', 'polarnext', 'fcos', '--checkpoint',
        f'polarnext={ckpt}', '--data-root', f'{toy_root}/',
        '--eval-max-images', '2', '--no-train', '--out-dir',
        str(tmp_path)
    ], lambda line: None)
    rows = {n['label']: n for n in numbers}
    ap = rows['PolarNeXt']['segm_mAP']
    # random shapes overlap the toy objects a little, never well
    assert ap is not None and 0 <= ap < 0.2
    assert rows['PolarNeXt (polygons only)']['segm_mAP'] is None
    assert rows['FCOS (PolarNeXt backbone)']['segm_mAP'] is None
    assert rows['PolarNeXt']['train_ms'] is None  # --no-train
    assert '| segm AP |' in (tmp_path / 'compare_models.md').read_text()
    # two filled and one hollow marker
    _non_blank_png(tmp_path / 'speed_accuracy.png', (400, 500), 150)


def test_evaluate_is_runner_test(toy_root, monkeypatch):
    """``evaluate`` returns Runner.test's metrics of the checkpoint on the
    moved, truncated test set."""
    seen = {}

    class FakeRunner:
        def test(self):
            return {'coco/bbox_mAP': 0.5}

    def build_runner(cfg):
        seen.update(load_from=cfg.load_from, indices=cfg.test_dataloader
                    .dataset.indices, root=cfg.test_dataloader.dataset
                    .data_root, ann=cfg.test_evaluator.ann_file)
        return FakeRunner()

    monkeypatch.setattr(model_comparison, 'build_runner', build_runner)
    cfg = Config.fromfile(str(REPO_ROOT / SPECS['solov2'].toy))
    entry = model_comparison.Entry(SPECS['solov2'], '', cfg, None, 'w.pth')
    metrics = model_comparison.evaluate(entry, '/data/x/', 3)
    # CocoMetric reports nothing without detections: segm AP 0
    assert metrics == {'coco/bbox_mAP': 0.5, 'coco/segm_mAP': 0.0}
    assert seen['load_from'] == 'w.pth' and seen['indices'] == 3
    assert seen['root'] == '/data/x/'
    assert seen['ann'].startswith('/data/x/')


def test_missing_config_is_skipped_with_a_note(tool, tmp_path):
    lines = []
    numbers = tool.main(QUICK + [
        '--models', 'polarnext', 'polarmask', '--no-train', '--config',
        f'polarmask={tmp_path}/missing.py', '--out-dir',
        str(tmp_path)
    ], lines.append)
    assert [n['label'] for n in numbers] == ['PolarNeXt (polygons only)',
                                             'PolarNeXt']
    assert any('PolarMask skipped' in line for line in lines)
    assert 'PolarMask skipped' in (tmp_path / 'compare_models.md').read_text()


def test_bad_arguments(tool):
    with pytest.raises(SystemExit, match='NAME=PATH'):
        tool.parse_pairs(['polarnext'], '--checkpoint')
    with pytest.raises(SystemExit, match='unknown model'):
        tool.parse_pairs(['yolo=x.pth'], '--checkpoint')
    with pytest.raises(SystemExit, match='checkpoint not found'):
        tool.main(QUICK + ['--models', 'solov2', '--checkpoint',
                           'solov2=/nonexistent.pth'], lambda line: None)


def test_fcos_head_keeps_backbone_and_neck():
    cfg = Config.fromfile(str(REPO_ROOT / SPECS['polarnext'].r50))
    fcos = with_fcos_head(Config.fromfile(
        str(REPO_ROOT / SPECS['polarnext'].r50)))
    assert fcos.model.type == 'FCOS'
    assert fcos.model.bbox_head.type == 'FCOSHead'
    assert fcos.model.backbone == cfg.model.backbone
    assert fcos.model.neck == cfg.model.neck
    assert fcos.model.bbox_head.feat_channels == 256
    assert 'mask_output' not in fcos.model.test_cfg
    assert np.isclose(fcos.model.test_cfg.score_thr, 0.05)


def test_every_model_has_its_configs():
    for spec in MODEL_SPECS:
        assert (REPO_ROOT / spec.toy).is_file(), spec.toy
        assert (REPO_ROOT / spec.r50).is_file(), spec.r50


def test_post_processing_case_repeats():
    """A timed case runs many times on the same head outputs: SOLOv2's
    predict_by_feat permutes its output lists in place, so the second call
    on shared lists failed (R-50 run with --repeats 3)."""
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(REPO_ROOT / SPECS['solov2'].toy))
    model = build_model(cfg.model, torch.device('cpu')).eval()
    batch = raw_batch((96, 128), 0)
    inputs = model.data_preprocessor(copy.deepcopy(batch), False)['inputs']
    force_detections(model, inputs, 50)
    post = inference_cases(model, None, batch)['post']
    assert post() == post() > 0


@pytest.mark.parametrize('key,options', [
    ('polarnext', dict(ray_activation='linear')),
    ('polarnext', dict(ray_activation='exp')),
    ('polarmask', dict(norm_on_stride=False)),
    ('polarmask', dict(norm_on_stride=True)),
])
def test_forced_polygons_have_real_sizes_whatever_the_ray_unit(key, options):
    """Forced rays are about FORCED_RAY_BIAS strides long on every level for
    every ray parametrisation, PolarMask's boxes 32 px (its NMS uses them),
    and the forced candidates survive NMS as a crowded image's would (49-79
    of 300 over four initialisations). Forcing PolarMask's stride units as
    if they were pixels made rays of 4 stride^2 px and NMS left one."""
    init_default_scope('mmdet')
    torch.manual_seed(0)
    cfg = Config.fromfile(str(REPO_ROOT / SPECS[key].toy))
    cfg.model.bbox_head.update(options)
    model = build_model(cfg.model, torch.device('cpu')).eval()
    inputs = model.data_preprocessor(raw_batch((192, 256), 0),
                                     False)['inputs']
    force_detections(model, inputs, 300)
    with torch.no_grad():
        outs = model.bbox_head(model.extract_feat(inputs))
    for rays, stride in zip(outs[-2], model.bbox_head.strides):
        median = float(rays.median()) / stride
        assert FORCED_RAY_BIAS / 2 < median < FORCED_RAY_BIAS * 2, stride
    if key == 'polarmask':  # its FCOS box branch: 32 px sides everywhere
        for sides in outs[1]:
            assert 16 < float(sides.median()) < 64
    with torch.no_grad():
        results = model.test_step(raw_batch((192, 256), 0))
    assert len(results[0].pred_instances) > 20
