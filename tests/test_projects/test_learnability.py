"""Learnability: each tiny polar model memorises 4 real COCO images
(segm AP >= 0.4).

Trains with tools/train.py and evaluates with tools/test.py on the same images
(tools/misc/overfit.py; about 5 minutes per model on 2 idle CPU cores). The
margin over 0.4 is small (see the project READMEs for the measured values), so
the runs are marked long (``make test-long``) and do not gate CI.
"""
import sys

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / 'tools' / 'misc'))

CONFIGS = [
    'projects/PolarNeXt/configs/polarnext_r18_fpn_overfit-coco128-cpu.py',
    'projects/PolarMask/configs/polarmask_r18_fpn_overfit-coco128-cpu.py',
]


@pytest.mark.long
@pytest.mark.parametrize('config', CONFIGS)
def test_memorises_four_coco_images(config, coco128_root, tmp_path):
    from overfit import overfit
    metrics = overfit(
        config=config,
        work_dir=str(tmp_path),
        data_root=str(coco128_root),
        num_images=4)
    assert metrics['segm_mAP'] >= 0.4, metrics
