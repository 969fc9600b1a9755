"""demo/image_demo.py: PNGs with masks, polygon outlines and rays through
DetInferencer, for a tiny PolarNeXt whose detections are forced (random
weights detect nothing)."""
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT, load_tool
from mmdet_ext.utils.benchmark import build_model
from mmdet_ext.utils.forced_detections import force_detections, raw_batch

CONFIG = 'projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py'


@pytest.fixture(scope='module')
def demo():
    return load_tool('demo/image_demo.py')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """Tiny PolarNeXt with ~300 locations forced above the threshold."""
    cfg = Config.fromfile(str(REPO_ROOT / CONFIG))
    init_default_scope('mmdet')
    __import__('projects.PolarNeXt.polarnext')
    torch.manual_seed(0)
    model = build_model(cfg.model, torch.device('cpu')).eval()
    inputs = model.data_preprocessor(raw_batch((192, 256), 0),
                                     False)['inputs']
    force_detections(model, inputs, 300)
    path = tmp_path_factory.mktemp('demo_ckpt') / 'forced.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(
                classes=('ellipse', 'star', 'bracket')))), str(path))
    return str(path)


def _run(demo, inputs, checkpoint, out_dir, *extra):
    return demo.main([
        str(inputs), str(REPO_ROOT / CONFIG), '--weights', checkpoint,
        '--out-dir',
        str(out_dir), '--device', 'cpu', '--pred-score-thr', '0.05', *extra
    ])


def test_demo_writes_pngs_with_polygons_and_rays(demo, checkpoint, toy_root,
                                                 tmp_path, capsys):
    image_path = sorted((toy_root / 'val').glob('*.png'))[0]
    source = cv2.imread(str(image_path))
    plain = _run(demo, image_path, checkpoint, tmp_path / 'plain',
                 '--no-polygons')
    rays = _run(demo, image_path, checkpoint, tmp_path / 'rays',
                '--draw-rays')
    assert len(plain) == len(rays) == 1
    assert rays[0].endswith(image_path.stem + '.png')
    plain_img, rays_img = cv2.imread(plain[0]), cv2.imread(rays[0])
    assert rays_img.shape == plain_img.shape == source.shape
    # detections drawn at all: the plain output differs from the input
    assert (np.abs(plain_img.astype(int) - source).sum(-1) > 30).mean() > 0.01
    # outlines, rays and origins add many pixels on top
    changed = np.abs(rays_img.astype(int) - plain_img).sum(-1) > 30
    assert changed.mean() > 0.01, changed.mean()
    pred_file = tmp_path / 'rays' / 'preds' / (image_path.stem + '.json')
    preds = json.loads(pred_file.read_text())
    assert len(preds['labels']) > 0
    assert len(preds['masks']) == len(preds['labels'])
    assert 'rays not drawn' not in capsys.readouterr().out


def test_demo_on_a_folder(demo, checkpoint, toy_root, tmp_path):
    written = _run(demo, toy_root / 'val', checkpoint, tmp_path, '--draw-rays',
                   '--no-save-pred')
    assert len(written) == len(list((toy_root / 'val').glob('*.png')))
    assert not (tmp_path / 'preds').exists()


def test_demo_bad_paths(demo, tmp_path):
    with pytest.raises(SystemExit, match='config file not found'):
        demo.main([str(tmp_path), str(tmp_path / 'nope.py')])
    with pytest.raises(SystemExit, match='checkpoint not found'):
        demo.main([
            str(tmp_path),
            str(REPO_ROOT / CONFIG), '--weights',
            str(tmp_path / 'nope.pth')
        ])
