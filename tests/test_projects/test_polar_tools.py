"""Both polar models through MMDetection's command lines on CPU: train,
test (COCO metric, --show-dir) and the inference benchmark with the trained
checkpoint (two-process training of both: test_reliability/test_distributed.py)."""
import math
import sys

import pytest
from helpers.tools import metrics_of_test_run, train_scalars

from conftest import REPO_ROOT, load_tool, run_tool, tiny_toy_options

CONFIGS = {
    'PolarNeXt': 'projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py',
    'PolarMask': 'projects/PolarMask/configs/polarmask_r18_fpn_toy-cpu.py',
}
# An (almost) untrained model: keep low scores so that AP is computed.
LOW_SCORES = ['model.test_cfg.score_thr=0.0']


@pytest.fixture(scope='module', params=sorted(CONFIGS))
def trained(request, toy_root, tmp_path_factory):
    config = CONFIGS[request.param]
    work_dir = tmp_path_factory.mktemp(request.param)
    run_tool([
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options', *tiny_toy_options(toy_root)
    ])
    return config, work_dir


def test_train_logs_finite_losses(trained):
    _, work_dir = trained
    scalars = train_scalars(work_dir)
    # 4 images, batch 2, logged every iteration
    assert [s['iter'] for s in scalars] == [1, 2]
    for s in scalars:
        assert math.isfinite(s['loss']) and 0 < s['loss'] < 1e4, s
    assert (work_dir / 'epoch_1.pth').is_file()


def test_test_tool_reports_mask_ap(trained, toy_root, tmp_path):
    config, work_dir = trained
    run_tool([
        sys.executable, 'tools/test.py', config, work_dir / 'epoch_1.pth',
        '--work-dir', tmp_path, '--show-dir', tmp_path / 'vis',
        '--cfg-options', *tiny_toy_options(toy_root), *LOW_SCORES
    ])
    metrics = metrics_of_test_run(tmp_path)
    # every detection kept: AP is computed, not -1
    assert 0 <= metrics['coco/segm_mAP'] <= 1, metrics
    assert len(list((tmp_path / 'vis').glob('*.png'))) == 4  # toy val


def test_inference_benchmark(trained, toy_root):
    """benchmark.py with the trained checkpoint times both mask modes."""
    config, work_dir = trained
    results = load_tool('tools/analysis_tools/benchmark.py').main([
        str(REPO_ROOT / config), '--checkpoint',
        str(work_dir / 'epoch_1.pth'), '--task', 'inference', '--max-iter',
        '6', '--num-warmup', '1', '--log-interval', '3', '--num-threads', '1',
        '--cfg-options', *tiny_toy_options(toy_root)
    ])
    fps = results['avg_fps_by_mode']
    assert set(fps) == {False, True} and min(fps.values()) > 0, results
