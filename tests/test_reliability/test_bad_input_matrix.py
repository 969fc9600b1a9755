"""Bad-input matrix over the training and test pipelines of the polar models.

One training run per model goes through every usable bad case at once (one
image per case, see ``bad_dataset.USABLE_CASES``) and must end with finite
losses and weights, every image having reached the head; a test run then
predicts and evaluates. Files no loader can use, and annotation files no
loader can take as they are (``bad_dataset.INVALID_FILE_CASES``), stop the
run with a message naming the file.
"""
import copy
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bad_dataset import (EVAL_BREAKING, FATAL_CASES, IMG_H, IMG_W,
                         INVALID_FILE_CASES, ONE_CLASS_IDS, THREE_CLASS_IDS,
                         USABLE_CASES, class_names, make_bad_dataset)
from helpers.tools import main_exit, tool_error
from mmengine.runner import Runner
from polar_configs import (POLARNEXT, RecordHook, polar_config_params,
                           tiny_config)

from mmdet_ext.utils import (DataCheckError, ImageLoadError, check_datasets,
                             data_error_message)

CONFIGS = polar_config_params()


@pytest.fixture(scope='module')
def bad_data(tmp_path_factory):
    return make_bad_dataset(
        tmp_path_factory.mktemp('bad_data'), cat_ids=THREE_CLASS_IDS)


@pytest.fixture(scope='module')
def bad_data_one_class(tmp_path_factory):
    """A few cases, one class of id 5."""
    return make_bad_dataset(
        tmp_path_factory.mktemp('bad_data_1cls'),
        cat_ids=ONE_CLASS_IDS,
        cases=('crowd_only', 'multi_part', 'tiny_objects', 'no_annotations'))


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    hook = RecordHook()
    runner.register_hook(hook, priority='LOWEST')
    runner.train()
    return runner, hook


def _assert_finite_training(runner, hook):
    assert hook.losses, 'no training iteration ran'
    for i, losses in enumerate(hook.losses):
        assert losses and all(math.isfinite(v) for v in losses.values()), \
            f'iteration {i}: {losses}'
    model = getattr(runner.model, 'module', runner.model)
    for name, param in model.state_dict().items():
        if param.is_floating_point():
            assert torch.isfinite(param).all(), name


@pytest.fixture(scope='module', params=CONFIGS)
def usable_run(request, bad_data, tmp_path_factory):
    """1 epoch on every usable case (batch 4), then a test run."""
    cfg = tiny_config(
        request.param,
        tmp_path_factory.mktemp('usable'),
        bad_data['root'],
        'annotations/instances_usable.json',
        class_names(THREE_CLASS_IDS),
        test_ann_file='annotations/instances_evaluable.json')
    runner, hook = _train(cfg)
    metrics = runner.test()
    return runner, hook, metrics


def test_training_goes_on_with_finite_losses(usable_run):
    runner, hook, _ = usable_run
    _assert_finite_training(runner, hook)
    # every bad image reached the head exactly once
    seen = sorted(name for name, _, _ in hook.samples)
    expected = sorted(
        name + suffix for name, (_, _, suffix) in USABLE_CASES.items())
    assert seen == expected
    assert len(hook.losses) == math.ceil(len(expected) / 4)


def test_usable_cases_keep_their_objects(usable_run):
    """What reaches the head per case: usable objects as ground truth,
    crowd regions (and objects without any usable part) as ignored."""
    _, hook, _ = usable_run
    counts = {Path(name).stem: (gt, ignored)
              for name, gt, ignored in hook.samples}
    assert counts['no_annotations'] == (0, 0)
    assert counts['crowd_only'] == (0, 2)
    # RLE objects (compressed and uncompressed) kept as polygons
    # (LoadPolygonAnnotations)
    assert counts['rle_objects'] == (3, 0)
    assert counts['tiny_objects'] == (3, 0)
    assert counts['larger_than_image'] == (2, 0)
    assert counts['multi_part'] == (1, 0)
    assert counts['centroid_outside'] == (2, 0)
    assert counts['self_intersecting'] == (2, 0)
    assert counts['grayscale'] == (3, 0)
    assert counts['four_channel'] == (1, 0)
    # NaN/inf parts reach the head, whose PolygonTensor drops them.
    assert counts['nan_polygon'] == (3, 0)
    # < 3 points / odd coordinate count: LoadAnnotations ignores the object
    # when no polygon is left; zero-area parts reach the head.
    assert counts['degenerate_polygons'] == (2, 2)
    # no segmentation ([], null, no key): ignored, not a KeyError
    assert counts['no_segmentation'] == (1, 3)
    assert counts['uncompressed_rle'] == (2, 0)
    # EXIF-rotated photos, annotated as shown or on the stored pixels
    assert counts['exif_rotated'] == (3, 0)
    assert counts['exif_rotated_stored'] == (3, 0)


def test_exif_rotated_images_load_in_the_file_frame(usable_run):
    """Both EXIF cases load at the annotation file's width x height, so the
    objects sit where the file puts them."""
    _, hook, _ = usable_run
    shapes = dict(hook.shapes)
    assert shapes['exif_rotated.jpg'] == (IMG_H, IMG_W)
    assert shapes['exif_rotated_stored.jpg'] == (IMG_H, IMG_W)


def test_test_pipeline_predicts_and_evaluates(usable_run):
    runner, _, metrics = usable_run
    assert 'coco/segm_mAP' in metrics
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 or \
        metrics['coco/segm_mAP'] == -1.0
    num_test = len(runner.test_dataloader.dataset)
    assert num_test == len(USABLE_CASES) - len(EVAL_BREAKING)


def test_test_pipeline_predicts_every_usable_image(usable_run, bad_data,
                                                  tmp_path):
    """Prediction on all usable cases (the evaluation-breaking ground
    truth included): format-only output passes the pre-flight check."""
    runner = usable_run[0]
    cfg = copy.deepcopy(runner.cfg)
    cfg.test_dataloader.dataset.ann_file = 'annotations/instances_usable.json'
    cfg.test_evaluator = dict(
        type='CocoMetric',
        metric=['segm'],
        format_only=True,
        ann_file=str(bad_data['usable']),
        outfile_prefix=str(tmp_path / 'results'))
    cfg.load_from = str(Path(runner.work_dir) / 'epoch_1.pth')
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = 'format_only'
    cfg.model.test_cfg.score_thr = 0.0  # detections on every image
    check_datasets(cfg, ('test_dataloader', ))
    test_runner = Runner.from_cfg(cfg)
    test_runner.test()
    assert len(test_runner.test_dataloader.dataset) == len(USABLE_CASES)
    segm = json.loads((tmp_path / 'results.segm.json').read_text())
    usable = json.loads(bad_data['usable'].read_text())
    assert {r['image_id'] for r in segm} == \
        {image['id'] for image in usable['images']}
    assert {r['category_id'] for r in segm} <= set(THREE_CLASS_IDS)


@pytest.mark.parametrize('config', CONFIGS)
def test_one_class_dataset_trains(config, bad_data_one_class, tmp_path):
    cfg = tiny_config(config, tmp_path, bad_data_one_class['root'],
                      'annotations/instances_usable.json',
                      class_names(ONE_CLASS_IDS))
    runner, hook = _train(cfg)
    _assert_finite_training(runner, hook)
    labels = runner.train_dataloader.dataset.metainfo['classes']
    assert labels == ('class_5', )
    assert sum(gt for _, gt, _ in hook.samples) == 4


def test_grayscale_and_four_channel_load_as_bgr(bad_data):
    from mmdet_ext.datasets import CheckedLoadImageFromFile
    load = CheckedLoadImageFromFile()
    for name in ('grayscale.png', 'four_channel.png', 'jpeg.jpg'):
        path = bad_data['root'] / 'images' / name
        results = load(dict(img_path=str(path)))
        assert results['img'].shape == (80, 96, 3), name
        assert results['img'].dtype == np.uint8


@pytest.mark.parametrize('case', FATAL_CASES)
@pytest.mark.parametrize('config', CONFIGS)
def test_unusable_file_stops_naming_it(config, case, bad_data, tmp_path):
    cfg = tiny_config(config, tmp_path, bad_data['root'],
                      f'annotations/instances_{case}.json',
                      class_names(THREE_CLASS_IDS), batch_size=2)
    with pytest.raises(ImageLoadError) as info:
        Runner.from_cfg(cfg).train()
    assert case in str(info.value)
    assert str(bad_data['root'] / 'images') in str(info.value)


def test_error_from_dataloader_worker_keeps_the_file_name(bad_data,
                                                          tmp_path):
    """With workers, torch re-raises the error with the worker's traceback
    as its message; the tools print only the line naming the file."""
    cfg = tiny_config(POLARNEXT, tmp_path, bad_data['root'],
                      'annotations/instances_truncated_jpeg.json',
                      class_names(THREE_CLASS_IDS), batch_size=2)
    cfg.train_dataloader.num_workers = 1
    with pytest.raises(ImageLoadError) as info:
        Runner.from_cfg(cfg).train()
    assert 'Traceback' in str(info.value)
    message = data_error_message(info.value)
    assert message.startswith('unusable image ')
    assert message.endswith('truncated_jpeg.jpg: truncated JPEG (no end '
                            'marker)')


def test_unevaluable_ground_truth_is_reported_before_running(
        bad_data, tmp_path):
    cfg = tiny_config(POLARNEXT, tmp_path, bad_data['root'],
                      'annotations/instances_usable.json',
                      class_names(THREE_CLASS_IDS))
    # training alone (polygons stay polygons): fine
    check_datasets(cfg, ('train_dataloader', ))
    with pytest.raises(DataCheckError) as info:
        check_datasets(cfg, ('test_dataloader', ))
    message = str(info.value)
    assert 'instances_usable.json' in message
    assert 'degenerate_polygons.png' in message
    assert 'nan_polygon.png): coordinate nan is not a finite number' in \
        message


def _dump_config(cfg, path):
    cfg.dump(str(path))
    return str(path)


def test_train_tool_stops_on_truncated_jpeg(bad_data, tmp_path):
    cfg = tiny_config(POLARNEXT, tmp_path / 'work', bad_data['root'],
                      'annotations/instances_truncated_jpeg.json',
                      class_names(THREE_CLASS_IDS), batch_size=2)
    code, last = tool_error([
        sys.executable, 'tools/train.py',
        _dump_config(cfg, tmp_path / 'cfg.py')
    ])
    assert code == 1, last
    assert last == (
        f'error: unusable image {bad_data["root"]}/images/'
        'truncated_jpeg.jpg: truncated JPEG (no end marker)')


def test_test_tool_stops_on_unevaluable_ground_truth(bad_data, tmp_path,
                                                     usable_ckpt):
    cfg = tiny_config(POLARNEXT, tmp_path / 'work', bad_data['root'],
                      'annotations/instances_usable.json',
                      class_names(THREE_CLASS_IDS))
    code, last = tool_error([
        sys.executable, 'tools/test.py',
        _dump_config(cfg, tmp_path / 'cfg.py'), usable_ckpt
    ])
    assert code == 1, last
    # degenerate_polygons (1), nan_polygon (3), no_segmentation (3)
    assert last.startswith('error: 7 segmentation(s) in ')
    assert 'instances_usable.json cannot be rasterised' in last


@pytest.fixture(scope='module')
def usable_ckpt(usable_run):
    runner = usable_run[0]
    return str(Path(runner.work_dir) / 'epoch_1.pth')


# ------------------------------------------- annotation files, pre-flight
@pytest.mark.parametrize('case', INVALID_FILE_CASES)
def test_invalid_annotation_file_stops_before_training(case, bad_data,
                                                       tmp_path):
    """Each invalid file is refused by the pre-flight check with one line
    naming the file and the problem (these would otherwise raise in a
    DataLoader worker, or silently train objects as background)."""
    cfg = tiny_config(POLARNEXT, tmp_path, bad_data['root'],
                      f'annotations/instances_{case}.json',
                      class_names(THREE_CLASS_IDS))
    with pytest.raises(DataCheckError) as info:
        check_datasets(cfg, ('train_dataloader', ))
    message = str(info.value)
    assert '\n' not in message
    assert f'instances_{case}.json' in message
    assert INVALID_FILE_CASES[case][1] in message


def test_no_segmentation_with_mmdet_loader_is_reported(bad_data, tmp_path):
    """MMDetection's own LoadAnnotations raises KeyError: 'mask' on an
    object without segmentation: the check says so before training."""
    cfg = tiny_config(POLARNEXT, tmp_path, bad_data['root'],
                      'annotations/instances_usable.json',
                      class_names(THREE_CLASS_IDS))
    cfg.train_dataloader.dataset.pipeline[1] = dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True,
        poly2mask=False)
    with pytest.raises(DataCheckError) as info:
        check_datasets(cfg, ('train_dataloader', ))
    message = str(info.value)
    assert message.startswith('3 segmentation(s) in ')
    assert "no_segmentation.png): no segmentation: MMDetection's " \
        'LoadAnnotations cannot load it' in message


@pytest.mark.parametrize('loader, refused', [
    ('LoadImageFromFile', True),
    ('CheckedLoadImageFromFile', False),
])
def test_exif_stored_frame_in_evaluation(loader, refused, bad_data,
                                         tmp_path):
    """A photo annotated on its stored pixels decodes rotated with
    MMDetection's loader, and COCO evaluation would raise on the size:
    refused before the run; CheckedLoadImageFromFile follows the file."""
    cfg = tiny_config(POLARNEXT, tmp_path, bad_data['root'],
                      'annotations/instances_evaluable.json',
                      class_names(THREE_CLASS_IDS))
    cfg.test_dataloader.dataset.pipeline[0] = dict(type=loader)
    if not refused:
        check_datasets(cfg, ('test_dataloader', ))
        return
    with pytest.raises(DataCheckError) as info:
        check_datasets(cfg, ('test_dataloader', ))
    message = str(info.value)
    assert message.startswith('1 image(s) of ')
    assert f'exif_rotated_stored.jpg decodes to {IMG_H}x{IMG_W} (EXIF ' \
        'orientation 6' in message
    assert 'exif_rotated.jpg' not in message


def test_train_tool_stops_on_unknown_category(bad_data, monkeypatch,
                                              tmp_path):
    cfg = tiny_config(POLARNEXT, tmp_path / 'work', bad_data['root'],
                      'annotations/instances_unknown_category.json',
                      class_names(THREE_CLASS_IDS), batch_size=2)
    last = main_exit(monkeypatch, 'train',
                     _dump_config(cfg, tmp_path / 'cfg.py'))
    assert last.startswith('error: 1 annotation(s) in ')
    assert '\n' not in last
    assert 'instances_unknown_category.json have a category_id missing ' \
        'from "categories" (999)' in last
