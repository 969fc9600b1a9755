"""Tests of :mod:`mmdet_ext.learnability` (the config of an overfit run:
classes from the data, schedule scaled to the budget; the curve's
bookkeeping) and of ``tools/analysis_tools/learning_curve.py`` around it.

The unit tests edit loaded configs only; the curve's bookkeeping over
configs, budgets and seeds runs with a fake trainer; one real run trains the
tiny PolarNeXt for 2 iterations on 2 images of a one-class set derived from
the toy set (``tools/train.py`` and ``tools/test.py`` subprocesses, most of
this file's time), then the command line resumes it without training.
"""
import json
import os

import matplotlib.pyplot as plt
import pytest
from mmengine.config import Config

from conftest import REPO_ROOT, load_tool

from mmdet_ext.learnability import learning_curve as curve_lib
from mmdet_ext.learnability import overfit_loop as overfit_lib
from mmdet_ext.utils import read_class_names, set_num_classes

curve_tool = load_tool('tools/analysis_tools/learning_curve.py')

POLAR_CONFIG = ('projects/PolarNeXt/configs/'
                'polarnext_r18_fpn_overfit-coco128-cpu.py')
SOLOV2_CONFIG = 'configs/solov2/solov2_r50_fpn_1x_coco.py'
MASK_RCNN_CONFIG = 'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
# No DataLoader worker processes: the runs take a few seconds, a worker's
# start-up would dominate them.
FAST_OPTIONS = [
    f'{loader}.{key}'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    for key in ('num_workers=0', 'persistent_workers=False')
]
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _load(config: str) -> Config:
    return Config.fromfile(str(REPO_ROOT / config),
                           import_custom_modules=False)


def _table_rows(text):
    """The cells of every row of the Markdown table in ``text`` (header
    and alignment rows included), without their padding."""
    return [[cell.strip() for cell in line.strip('|').split('|')]
            for line in text.splitlines() if line.startswith('|')]


def _write_coco(path, categories):
    """An image-less COCO file with the given (id, name) categories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(
        images=[], annotations=[],
        categories=[dict(id=i, name=n) for i, n in categories])))
    return path


# ------------------------------------------------------------ schedule
@pytest.mark.parametrize('budget, warmup_end, milestone', [
    (100, 25, 80),  # warm-up capped at a quarter of the budget
    (800, 50, 640),  # warm-up keeps its 50 iterations
    (3, 1, 2),  # at least one warm-up iteration; 2.4 rounds to 2
])
def test_schedule_scales_with_the_budget(budget, warmup_end, milestone):
    cfg = _load(POLAR_CONFIG)
    assert cfg.train_cfg.max_iters == 800  # the rule below assumes it
    overfit_lib.scale_schedule(cfg, budget)
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0,
                                                       warmup_end)
    assert steps.type == 'MultiStepLR'
    assert (steps.begin, steps.end) == (0, budget)
    assert steps.milestones == [milestone]
    assert cfg.train_cfg.max_iters == budget
    assert cfg.train_cfg.val_interval == budget + 1
    assert cfg.default_hooks.checkpoint.interval == budget


def test_scheduler_rule_for_other_entries():
    scale = overfit_lib.scale_scheduler
    cosine = dict(type='CosineAnnealingLR', by_epoch=False, begin=200,
                  end=400, T_max=200)
    assert scale(cosine, 400, 100) == dict(cosine, begin=50, end=100,
                                           T_max=50)
    # mmengine's open end (no end, or one past max_iters) stays open.
    open_end = dict(type='MultiStepLR', by_epoch=False, milestones=[100, 300])
    assert scale(open_end, 400, 200) == dict(open_end, milestones=[50, 150])
    forever = dict(type='ConstantLR', by_epoch=False, begin=0, end=10**9)
    assert scale(forever, 400, 100) == forever
    cfg = Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=400),
        param_scheduler=[dict(type='MultiStepLR', by_epoch=True,
                              milestones=[8, 11])]))
    overfit_lib.scale_schedule(cfg, 100)
    assert cfg.param_scheduler[0].milestones == [8, 11]  # epochs untouched


def test_epoch_based_config_has_no_iteration_budget():
    cfg = Config(dict(train_cfg=dict(type='EpochBasedTrainLoop',
                                     max_epochs=12)))
    with pytest.raises(ValueError, match='iteration-based'):
        overfit_lib.scale_schedule(cfg, 100)


# ------------------------------------------------------------- classes
@pytest.mark.parametrize('config, paths', [
    (POLAR_CONFIG, ['model.bbox_head.num_classes']),
    (SOLOV2_CONFIG, ['model.mask_head.num_classes']),
    (MASK_RCNN_CONFIG, ['model.roi_head.bbox_head.num_classes',
                        'model.roi_head.mask_head.num_classes']),
])
def test_every_num_classes_of_the_model_is_set(config, paths):
    cfg = _load(config)
    assert sorted(set_num_classes(cfg.model, 7,
                                               'model')) == paths
    for path in paths:
        node = cfg
        for key in path.split('.'):
            node = node[key]
        assert node == 7, path


def test_rpn_stays_class_agnostic():
    model = dict(rpn_head=dict(num_classes=1),
                 roi_head=dict(bbox_head=[dict(num_classes=80),
                                          dict(num_classes=80)]))
    assert set_num_classes(model, 2, 'model') == [
        'model.roi_head.bbox_head[0].num_classes',
        'model.roi_head.bbox_head[1].num_classes'
    ]
    assert model['rpn_head']['num_classes'] == 1


SEVEN_CLASSES = [(9, 'i'), (2, 'b'), (5, 'e'), (1, 'a'), (7, 'g'), (3, 'c'),
                 (4, 'd')]


def test_class_names_follow_the_labels_of_mmdet(tmp_path):
    from mmdet.datasets import CocoDataset
    ann_file = _write_coco(tmp_path / 'a.json', SEVEN_CLASSES)
    classes = list(read_class_names(str(ann_file)))
    dataset = CocoDataset(ann_file=str(ann_file), metainfo=dict(
        classes=tuple(classes)), lazy_init=True, pipeline=[])
    dataset.load_data_list()  # maps the category ids to labels
    names = dict(SEVEN_CLASSES)
    # Label i is the category mmdet maps to i: classes[i] must name it.
    assert [names[cat_id] for cat_id in sorted(
        dataset.cat2label, key=dataset.cat2label.get)] == classes
    assert classes == ['i', 'b', 'e', 'a', 'g', 'c', 'd']


def test_config_takes_classes_from_the_data(tmp_path):
    # Ids out of order and non-contiguous.
    ann_file = _write_coco(tmp_path / 'annotations' / 'instances_val.json',
                           SEVEN_CLASSES)
    cfg = overfit_lib.build_overfit_config(
        POLAR_CONFIG, str(tmp_path), str(ann_file), split='val',
        cfg_options=['train_cfg.max_iters=100', 'train_cfg.val_interval=7'])
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.metainfo.classes == ('i', 'b', 'e', 'a', 'g', 'c',
                                            'd')
        assert dataset.ann_file == str(ann_file)
        assert dataset.data_root == f'{tmp_path}/'
        assert dataset.data_prefix.img == 'val/'
    assert cfg.test_evaluator.ann_file == str(ann_file)
    assert cfg.model.bbox_head.num_classes == 7
    # train_cfg.max_iters among the options scales the schedule too, and
    # the user's explicit options win over the computed ones.
    assert cfg.param_scheduler[1].milestones == [80]
    assert cfg.train_cfg.val_interval == 7
    assert cfg.train_cfg.val_begin == 101  # no validation at the end


def test_user_options_override_the_classes(tmp_path):
    ann_file = _write_coco(tmp_path / 'a.json', [(1, 'thing')])
    cfg = overfit_lib.build_overfit_config(
        POLAR_CONFIG, str(tmp_path), str(ann_file),
        cfg_options=['model.bbox_head.num_classes=3'])
    assert cfg.model.bbox_head.num_classes == 3
    assert cfg.train_cfg.max_iters == 800  # no budget: schedule untouched
    assert cfg.param_scheduler[1].milestones == [640]


def test_test_output_metrics_are_parsed():
    output = ('bbox_mAP_copypaste: 0.464 0.881 0.400 -1.000 0.500 0.600\n'
              'coco/bbox_mAP: 0.4640  coco/bbox_mAP_50: 0.8810  '
              'coco/segm_mAP: 0.4250  coco/segm_mAP_50: 0.8000  '
              'coco/segm_mAP_75: 0.3750  coco/segm_mAP_s: -1.0000')
    assert overfit_lib.parse_metrics(output) == dict(
        bbox_mAP=0.464, bbox_mAP_50=0.881, segm_mAP=0.425, segm_mAP_50=0.8,
        segm_mAP_75=0.375, segm_mAP_s=-1.0)


def test_no_detection_is_zero_ap():
    output = ('mmengine - ERROR - coco_metric.py - compute_metrics - 465 - '
              'The testing results of the whole dataset is empty.\n'
              'Iter(test) [2/2]    data_time: 0.0120  time: 0.3434')
    assert overfit_lib.parse_metrics(output, ['segm']) == dict(
        segm_mAP=0.0, segm_mAP_50=0.0, segm_mAP_75=0.0)
    assert overfit_lib.parse_metrics('Iter(test) [2/2] time: 0.3') == {}
    cfg = _load(POLAR_CONFIG)
    assert overfit_lib.evaluated_kinds(cfg) == ['bbox', 'segm']


# ------------------------------------------------- curve bookkeeping
def test_rows_average_over_seeds():
    runs = [
        dict(config='a.py', label='a', iters=100, seed=s, oracle='K36',
             metrics=dict(segm_mAP=ap, segm_mAP_50=0.5, bbox_mAP=0.2))
        for s, ap in ((0, 0.2), (1, 0.4))
    ] + [dict(config='b.py', label='b', iters=100, seed=0, oracle=None,
              metrics=dict(segm_mAP=0.1))]
    rows = curve_lib.build_rows(runs, [dict(key='K36', AP=0.6)])
    a, b = rows
    assert a['num_runs'] == 2
    assert a['segm_mAP']['mean'] == pytest.approx(0.3)
    assert a['segm_mAP']['std'] == pytest.approx(0.1414, abs=1e-4)
    assert a['oracle_fraction'] == pytest.approx(0.5)
    assert a['segm_mAP_75'] is None  # not reported by the runs
    assert b['oracle_fraction'] is None and b['segm_mAP']['std'] == 0.0
    report = curve_tool.format_report(dict(
        seeds=[0, 1], num_images=4, data_root='d', split='train',
        cfg_options=[], rows=rows, oracles=[]))
    assert report.startswith('# Learning curve\n\n4 images of `d` (train)')
    assert _table_rows(report)[0] == [
        'config', 'iters', 'runs', 'segm AP', 'AP50', 'AP75', 'bbox AP',
        '/ oracle AP'
    ]
    assert _table_rows(report)[2:] == [
        ['a', '100', '2', '0.300 ± 0.141', '0.500 ± 0.000', '—',
         '0.200 ± 0.000', '0.50'],
        ['b', '100', '1', '0.100', '—', '—', '—', '—'],
    ]


def test_finished_run_is_reused_only_with_the_same_settings(
        tmp_path, monkeypatch):
    calls = []

    def fake_overfit(config, work_dir, **settings):
        calls.append(settings)
        return dict(segm_mAP=len(calls) / 10)

    monkeypatch.setattr(curve_lib, 'overfit', fake_overfit)
    settings = dict(data_root='/d', split='train', num_images=4,
                    max_iters=100, cfg_options=[])
    sub_dir = tmp_path / 'run'
    sub_dir.mkdir()
    train = curve_lib.train_or_reuse
    assert train('a.py', str(sub_dir), settings) == dict(
        metrics=dict(segm_mAP=0.1), reused=False)
    assert train('a.py', str(sub_dir), settings) == dict(
        metrics=dict(segm_mAP=0.1), reused=True)
    other = dict(settings, max_iters=200)
    assert train('a.py', str(sub_dir), other)['reused'] is False
    assert train('a.py', str(sub_dir), other, force=True)['metrics'] == dict(
        segm_mAP=0.3)
    assert len(calls) == 3


# ------------------------------------------------------------- subsets
def _subset_source(path):
    """Four images: 1 cat + dog, 2 cat only, 3 a crowd dog only, 4 dog."""
    anns = [(1, 1, 0), (1, 2, 0), (2, 1, 0), (3, 2, 1), (4, 2, 0)]
    path.write_text(json.dumps(dict(
        images=[dict(id=i, file_name=f'{i}.png', width=8, height=8)
                for i in (1, 2, 3, 4)],
        annotations=[dict(id=n, image_id=img, category_id=cat, iscrowd=crowd,
                          bbox=[0, 0, 4, 4], area=16,
                          segmentation=[[0, 0, 4, 0, 4, 4]])
                     for n, (img, cat, crowd) in enumerate(anns)],
        categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])))
    return path


def test_subset_keeps_the_named_categories(tmp_path):
    """A one-class set cut out of a two-class one: the other class's
    objects go, and so does an image left with a crowd region only."""
    source, out = _subset_source(tmp_path / 'src.json'), tmp_path / 'out.json'
    assert overfit_lib.write_subset(str(source), str(out), 4,
                                    categories=['dog']) == [1, 4]
    data = json.loads(out.read_text())
    assert data['categories'] == [dict(id=2, name='dog')]
    assert {a['category_id'] for a in data['annotations']} == {2}
    assert read_class_names(str(out)) == ('dog', )
    # Without the option every category and image with an object stays.
    assert overfit_lib.write_subset(str(source), str(out), 4) == [1, 2, 4]


def test_subset_among_image_ids(tmp_path):
    source, out = _subset_source(tmp_path / 'src.json'), tmp_path / 'out.json'
    assert overfit_lib.write_subset(str(source), str(out), 1,
                                    image_ids=[4, 2]) == [2]
    assert overfit_lib.write_subset(str(source), str(out), 4,
                                    categories=['cat'],
                                    image_ids=[2, 1]) == [1, 2]


@pytest.mark.parametrize('options, message', [
    (dict(categories=['bird']), r"categories \['bird'\] not in .*it has "
     r"\['cat', 'dog'\]"),
    (dict(image_ids=[9]), r'image ids \[9\] not in'),
    (dict(image_ids=[3]), r'image ids \[3\] .* no non-crowd object'),
    (dict(categories=['cat'], image_ids=[4]), 'no non-crowd object'),
])
def test_subset_names_what_it_cannot_find(tmp_path, options, message):
    source = _subset_source(tmp_path / 'src.json')
    with pytest.raises(ValueError, match=message):
        overfit_lib.write_subset(str(source), str(tmp_path / 'o.json'), 4,
                                 **options)


def test_curve_passes_the_subset_to_every_run(tmp_path, monkeypatch):
    """The subset options reach each run's settings (so a run made with
    other ones is not reused) and the report names them."""
    root = tmp_path / 'data'
    (root / 'annotations').mkdir(parents=True)
    _subset_source(root / 'annotations' / 'instances_train.json')
    calls = []

    def fake_overfit(config, work_dir, **settings):
        calls.append(settings)
        return dict(segm_mAP=0.5)

    monkeypatch.setattr(curve_lib, 'overfit', fake_overfit)
    curve = curve_tool.learning_curve(
        [SOLOV2_CONFIG], str(root), iters=[2], work_dir=str(tmp_path / 'w'),
        num_images=1, oracle=False, categories=['dog'], image_ids=[4])
    assert calls[0]['categories'] == ['dog']
    assert calls[0]['image_ids'] == [4]
    with open(curve['table']) as f:
        assert '1 images (dog only) among ids 4 of' in f.read()
    subset = json.loads(open(curve['subset']).read())
    assert [img['id'] for img in subset['images']] == [4]


# ------------------------------------------------------- curve on data
@pytest.fixture(scope='module')
def one_class_root(toy_root, tmp_path_factory):
    """The toy training set reduced to its first class, relabelled as
    category 5 'thing'; the images are the toy ones (symlinked)."""
    root = tmp_path_factory.mktemp('one_class')
    data = json.loads(
        (toy_root / 'annotations' / 'instances_train.json').read_text())
    first = min(cat['id'] for cat in data['categories'])
    data['annotations'] = [
        dict(ann, category_id=5) for ann in data['annotations']
        if ann['category_id'] == first
    ]
    data['categories'] = [dict(id=5, name='thing', supercategory='thing')]
    (root / 'annotations').mkdir()
    (root / 'annotations' / 'instances_train.json').write_text(
        json.dumps(data))
    os.symlink(toy_root / 'train', root / 'train')
    with_objects = {
        ann['image_id'] for ann in data['annotations']
        if not ann.get('iscrowd', 0)
    }
    assert len(with_objects) >= 2, 'the toy set changed: too few objects'
    return root


def test_oracle_follows_the_polar_head():
    assert curve_lib.oracle_settings(POLAR_CONFIG) == dict(
        num_rays=36, center='centroid', mode='farthest', parts='largest')
    assert curve_lib.oracle_settings(POLAR_CONFIG, [
        'model.bbox_head.num_rays=24',
        'model.bbox_head.target_builder.ray_origin=inside'
    ]) == dict(num_rays=24, center='inside', mode='farthest',
               parts='largest')
    assert curve_lib.oracle_settings(MASK_RCNN_CONFIG) is None


def _check_png(path):
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_SIGNATURE
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_curve_over_configs_budgets_and_seeds(one_class_root, tmp_path,
                                              monkeypatch):
    """Two seeds, two budgets, a polar and a mask model, fake training."""
    calls = []

    def fake_overfit(config, work_dir, **settings):
        seed = int(settings['cfg_options'][-1].split('=')[1])
        calls.append((os.path.basename(config), settings['max_iters'], seed,
                      os.path.relpath(work_dir, tmp_path)))
        ap = settings['max_iters'] / 10 + seed / 100
        return dict(segm_mAP=ap, segm_mAP_50=ap, segm_mAP_75=ap)

    monkeypatch.setattr(curve_lib, 'overfit', fake_overfit)
    curve = curve_tool.learning_curve(
        [POLAR_CONFIG, SOLOV2_CONFIG], str(one_class_root), iters=[2, 4],
        work_dir=str(tmp_path), num_images=2, seeds=[0, 2], oracle_rays=12)
    polar_label = 'polarnext_r18_fpn_overfit-coco128-cpu'
    assert calls[:2] == [
        (os.path.basename(POLAR_CONFIG), 2, 0, f'{polar_label}/iter2_seed0'),
        (os.path.basename(POLAR_CONFIG), 2, 2, f'{polar_label}/iter2_seed2')
    ]
    assert len(calls) == 8
    # The polar head's K and, for the mask model, --oracle-rays.
    assert [o['key'] for o in curve['oracles']] == [
        'K36-centroid-farthest-largest', 'K12-centroid-farthest-largest'
    ]
    polar_ap = curve['oracles'][0]['AP']
    assert 0.0 < polar_ap <= 1.0
    rows = {(r['label'], r['iters']): r for r in curve['rows']}
    assert len(rows) == 4
    row = rows[(polar_label, 4)]
    assert row['num_runs'] == 2
    assert row['segm_mAP']['mean'] == pytest.approx(0.41)
    assert row['segm_mAP']['std'] == pytest.approx(0.01414, abs=1e-5)
    assert row['bbox_mAP'] is None
    assert row['oracle_fraction'] == pytest.approx(0.41 / polar_ap)
    assert rows[('solov2_r50_fpn_1x_coco', 2)]['oracle_fraction'] is None
    with open(curve['table']) as f:
        assert ['solov2_r50_fpn_1x_coco', '4', '2', '0.410 ± 0.014'] in [
            cells[:4] for cells in _table_rows(f.read())
        ]
    _check_png(curve['png'])


@pytest.fixture(scope='module')
def curve(one_class_root, tmp_path_factory):
    """A real one-budget curve: 2 iterations on 2 images of one class."""
    work_dir = tmp_path_factory.mktemp('curve')
    return curve_tool.learning_curve(
        [POLAR_CONFIG], str(one_class_root), iters=[2],
        work_dir=str(work_dir), split='train', num_images=2,
        cfg_options=FAST_OPTIONS)


def test_curve_trains_on_one_class(curve):
    run, = curve['runs']
    assert (run['iters'], run['seed'], run['reused']) == (2, None, False)
    # The config that train.py and test.py ran (custom_imports included).
    cfg = Config.fromfile(
        os.path.join(run['work_dir'], 'overfit_config.py'),
        import_custom_modules=False)
    assert cfg.model.bbox_head.num_classes == 1
    assert cfg.train_dataloader.dataset.metainfo.classes == ('thing', )
    assert cfg.test_dataloader.dataset.metainfo.classes == ('thing', )
    assert cfg.train_cfg.max_iters == 2
    assert cfg.param_scheduler[1].milestones == [2]
    with open(os.path.join(run['work_dir'], 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_2.pth')
    with open(os.path.join(run['work_dir'], 'train_stdout.log')) as f:
        assert 'Iter(val)' not in f.read()  # tools/test.py evaluates
    with open(os.path.join(run['work_dir'], 'subset_train_2.json')) as f:
        assert len(json.load(f)['images']) == 2
    assert {'segm_mAP', 'segm_mAP_50', 'segm_mAP_75',
            'bbox_mAP'} <= set(run['metrics'])


def test_curve_row_and_oracle(curve):
    oracle, = curve['oracles']
    assert oracle['key'] == 'K36-centroid-farthest-largest'
    assert 0.0 < oracle['AP'] <= 1.0
    row, = curve['rows']
    run, = curve['runs']
    assert (row['label'], row['iters'], row['num_runs']) == (
        'polarnext_r18_fpn_overfit-coco128-cpu', 2, 1)
    assert row['oracle'] == oracle['key']
    for name in curve_lib.METRICS:
        assert row[name]['mean'] == run['metrics'][name]
        assert 0.0 <= row[name]['mean'] <= 1.0
    assert row['oracle_fraction'] == pytest.approx(
        row['segm_mAP']['mean'] / oracle['AP'])


def test_curve_files(curve):
    with open(curve['json']) as f:
        assert json.load(f) == json.loads(json.dumps(curve))
    with open(curve['table']) as f:
        table = f.read()
    assert ['polarnext_r18_fpn_overfit-coco128-cpu', '2', '1'] in [
        cells[:3] for cells in _table_rows(table)
    ]
    oracle_ap = curve['oracles'][0]['AP']
    assert f'- K36-centroid-farthest-largest: {oracle_ap:.3f}' in table
    _check_png(curve['png'])


def test_cli_resumes_without_training(curve, one_class_root, capsys):
    work_dir = os.path.dirname(curve['json'])
    run_file = os.path.join(curve['runs'][0]['work_dir'], 'run.json')
    stamp = os.path.getmtime(run_file)
    result = curve_tool.main([
        POLAR_CONFIG, '--data-root', str(one_class_root), '--split', 'train',
        '--num-images', '2', '--iters', '2', '--work-dir', work_dir,
        '--cfg-options', *FAST_OPTIONS,
        '--out-png', os.path.join(work_dir, 'again.png')
    ])
    assert ['polarnext_r18_fpn_overfit-coco128-cpu', '2', '1'] in [
        cells[:3] for cells in _table_rows(capsys.readouterr().out)
    ]
    assert os.path.getmtime(run_file) == stamp
    run, = result['runs']
    assert run['reused'] and run['metrics'] == curve['runs'][0]['metrics']
    _check_png(os.path.join(work_dir, 'again.png'))
