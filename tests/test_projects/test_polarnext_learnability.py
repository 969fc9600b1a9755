"""Learnability: the tiny PolarNeXt memorises 4 real COCO images (segm AP >= 0.4).

Trains with tools/train.py and evaluates with tools/test.py on the same images (about
4 minutes on 2 idle CPU cores), so it is marked slow (it still runs in ``make test``).
"""
import sys

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / 'projects' / 'PolarNeXt' / 'tools'))


@pytest.mark.slow
def test_memorises_four_coco_images(coco128_root, tmp_path):
    from overfit import overfit
    metrics = overfit(
        work_dir=str(tmp_path), data_root=str(coco128_root), num_images=4)
    assert metrics['segm_mAP'] >= 0.4, metrics
