"""Learnability: the tiny models memorise real COCO images and small objects
(``tools/analysis_tools/learning_curve.py``; README "Learnability").

CI runs a short curve: the tiny PolarNeXt trains 100 iterations at 320 px on
the first 4 coco128 train images and must beat ``SHORT_THRESHOLD`` (about
a minute on 2 idle cores); ``diagnose_polar.py`` then reads the same
checkpoint. The issue's goal runs (512 px, 800 iterations; the polar models
against their oracle, the tiny SOLOv2 and Mask R-CNN against segm AP 0.6), on
the 4 images and on the generated one-class small blobs, are marked long
(``make test-long``).
"""
import pytest

from conftest import load_tool
from mmdet_ext.evaluation import diagnose_checkpoint

POLARNEXT = 'projects/PolarNeXt/configs/polarnext_r18_fpn_overfit-coco128-cpu.py'
POLARMASK = 'projects/PolarMask/configs/polarmask_r18_fpn_overfit-coco128-cpu.py'
SOLOV2 = 'configs/solov2/solov2_r18_fpn_overfit-coco128-cpu.py'
MASK_RCNN = 'configs/mask_rcnn/mask-rcnn_r18_fpn_overfit-coco128-cpu.py'
# The goal for the tiny baselines of the same backbone and budget.
BASELINE_GOAL = 0.6
SHORT_SCALE = [
    f'{loader}.dataset.pipeline.{index}.scale=(320,320)'
    for loader, index in (('train_dataloader', 2), ('val_dataloader', 1),
                          ('test_dataloader', 1))
]
# Measured segm AP after 100 iterations at 320 px (README "Learnability"): 0.505, 0.520 and
# 0.409 (seeds 0, 1, 2) with the config's exp rays (at 384 px: 0.441, seed 0; with the
# official linear rays 0.255, 0.194 and 0.190); a model that does not learn stays near 0.
SHORT_THRESHOLD = 0.25


@pytest.fixture(scope='module')
def short_curve(coco128_root, tmp_path_factory):
    curve = load_tool('tools/analysis_tools/learning_curve.py')
    return curve.learning_curve(
        [POLARNEXT],
        data_root=str(coco128_root),
        iters=[100],
        work_dir=str(tmp_path_factory.mktemp('curve')),
        cfg_options=SHORT_SCALE)


def test_polarnext_learns_in_100_iterations(short_curve):
    row, = short_curve['rows']
    assert row['segm_mAP']['mean'] >= SHORT_THRESHOLD, row
    oracle, = short_curve['oracles']
    assert 0 < row['oracle_fraction'] < 1.05, (row, oracle)


def test_diagnosis_of_the_learned_model(short_curve):
    run, = short_curve['runs']
    result = diagnose_checkpoint(f"{run['work_dir']}/overfit_config.py",
                          f"{run['work_dir']}/iter_100.pth")
    official = result['variants']['official']['AP']
    # The tool's own post-processing replays the head's: same AP as test.py.
    assert official == pytest.approx(run['metrics']['segm_mAP'], abs=0.002)
    # Scoring by the true IoU cannot rank worse than the model's scores by
    # much; the best detection per object bounds the recall.
    assert result['variants']['true_iou_score']['AP'] >= official - 0.02
    assert result['recall_at_0_5'] <= result['best_iou_at_0_5'] + 1e-9
    assert 0 < result['best_iou_mean'] <= 1


def _final_row(config: str, data_root, work_dir) -> dict:
    """The curve's row of one config trained 800 iterations at 512 px."""
    curve = load_tool('tools/analysis_tools/learning_curve.py')
    result = curve.learning_curve([config],
                                  data_root=str(data_root),
                                  iters=[800],
                                  work_dir=str(work_dir))
    row, = result['rows']
    return row


@pytest.mark.long
@pytest.mark.parametrize('config, fraction', [(POLARNEXT, 0.90),
                                              (POLARMASK, 0.85)])
def test_polar_models_approach_their_oracle(config, fraction, coco128_root,
                                            tmp_path):
    """512 px: both polar models must meet their learnability goals within
    800 iterations: PolarNeXt 90 % of the oracle's AP (measured 92.8 %),
    PolarMask 85 % (measured 95 % with its config's norm_on_stride)."""
    row = _final_row(config, coco128_root, tmp_path)
    assert row['oracle_fraction'] >= fraction, row


@pytest.mark.long
@pytest.mark.parametrize('config', [SOLOV2, MASK_RCNN])
def test_baselines_learn(config, coco128_root, tmp_path):
    """512 px, 800 iterations: the tiny baselines of the same backbone and FPN
    width must reach segm AP 0.6 on the same 4 images."""
    row = _final_row(config, coco128_root, tmp_path)
    assert row['segm_mAP']['mean'] >= BASELINE_GOAL, row


@pytest.fixture(scope='module')
def blobs_root(tmp_path_factory):
    blobs = load_tool('tools/misc/make_blob_dataset.py')
    root = tmp_path_factory.mktemp('blobs')
    blobs.make_blob_dataset(str(root))
    return root


@pytest.mark.long
@pytest.mark.parametrize('config, fraction', [(POLARNEXT, 0.90),
                                              (POLARMASK, 0.85),
                                              (SOLOV2, None), (MASK_RCNN, None)])
def test_goals_on_small_objects_of_one_class(config, fraction, blobs_root,
                                             tmp_path):
    """The same goals on the generated one-class set of 44 small blobs
    (``make_blob_dataset.py``; oracle about 0.99): a polar model's fraction of
    its oracle, a baseline's segm AP 0.6."""
    row = _final_row(config, blobs_root, tmp_path)
    if fraction is None:
        assert row['segm_mAP']['mean'] >= BASELINE_GOAL, row
    else:
        assert row['oracle_fraction'] >= fraction, row
