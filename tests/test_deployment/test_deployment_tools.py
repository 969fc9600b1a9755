"""tools/deployment/pytorch2onnx.py and test_onnx.py end to end with a
trained tiny PolarNeXt: parity on the toy validation images and COCO segm AP
of ONNX Runtime equal to PyTorch's within 0.001; plus the tools' errors on
bad paths.

The checkpoint is trained here, in about two minutes: 50 epochs on the 4
validation images of the session's toy set (2 iterations each), so that the
evaluation on those images has a non-trivial AP (0.13 segm AP with the
AdamW + exp-ray toy config when this was written; a few epochs on other
images leave AP at 0, which any two models share)."""
import json
import sys

import pytest

from conftest import REPO_ROOT, load_tool, run_tool, tiny_toy_options
from deploy_cases import CONFIGS, assert_same_instances

DEPLOY_REASON = ('deployment group not installed: pip install -r '
                 'requirements/deploy.txt')
CONFIG = CONFIGS['polarnext']
AP_TOLERANCE = 0.001
EPOCHS = 20
# Train on the validation images (overfitting is the point here).
ON_VAL_IMAGES = [
    'train_dataloader.dataset.ann_file=annotations/instances_val.json',
    'train_dataloader.dataset.data_prefix.img=val/', 'randomness.seed=0'
]


def _require_deploy_group():
    for name in ('onnx', 'onnxscript', 'onnxruntime'):
        pytest.importorskip(name, reason=DEPLOY_REASON)


@pytest.fixture(scope='module')
def trained(toy_root, tmp_path_factory):
    """(checkpoint, graph): PolarNeXt trained on the toy validation images,
    exported with --dynamic-shape --with-nms by the tool."""
    _require_deploy_group()
    work_dir = tmp_path_factory.mktemp('deploy_train')
    run_tool([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
        '--cfg-options', *tiny_toy_options(toy_root, EPOCHS, num_images=4),
        *ON_VAL_IMAGES
    ])
    checkpoint = work_dir / f'epoch_{EPOCHS}.pth'
    graph = work_dir / 'polarnext.onnx'
    output = run_tool([
        sys.executable, 'tools/deployment/pytorch2onnx.py', CONFIG,
        checkpoint, '--out', graph, '--dynamic-shape', '--with-nms',
        '--shape', '256x320', '--verify', '--cfg-options',
        f'data_root={toy_root}/'
    ])
    assert 'NMS in the graph, dynamic shape' in output, output[-2000:]
    assert 'verify:' in output
    return checkpoint, graph


@pytest.mark.slow
def test_onnx_segm_ap_equals_pytorch(trained, toy_root, tmp_path):
    """test_onnx.py in-process: the metrics it returns and writes."""
    checkpoint, graph = trained
    out = tmp_path / 'metrics.json'
    metrics = load_tool('tools/deployment/test_onnx.py').main([
        CONFIG, str(graph), '--checkpoint',
        str(checkpoint), '--tolerance',
        str(AP_TOLERANCE), '--threads', '1', '--out',
        str(out), '--cfg-options', f'data_root={toy_root}/',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])  # (a gap above the tolerance exits with code 1)
    assert json.loads(out.read_text()) == metrics
    onnx_ap = metrics['ONNX Runtime']['coco/segm_mAP']
    torch_ap = metrics['PyTorch']['coco/segm_mAP']
    assert abs(onnx_ap - torch_ap) <= AP_TOLERANCE
    assert torch_ap > 0.005, metrics  # the comparison means something


@pytest.mark.slow
def test_trained_parity_on_toy_val(trained, toy_root):
    """Every validation image through the test pipeline: ONNX Runtime and
    PyTorch give the same detections (within the module tolerances)."""
    from mmengine.config import Config
    from mmengine.dataset import Compose

    from mmdet_ext.deployment import ONNXRuntimeDetector
    from mmdet_ext.deployment.detector import load_detector
    from mmdet_ext.utils import merge_cfg_options
    import torch

    checkpoint, graph = trained
    cfg = Config.fromfile(str(REPO_ROOT / CONFIG))
    merge_cfg_options(cfg, {'data_root': f'{toy_root}/'})
    model = load_detector(cfg, str(checkpoint))
    detector = ONNXRuntimeDetector(str(graph), num_threads=1)
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    total = 0
    for path in sorted((toy_root / 'val').glob('*.png')):
        data = pipeline(dict(img_path=str(path), img_id=0))
        batch = dict(inputs=[data['inputs']],
                     data_samples=[data['data_samples']])
        with torch.no_grad():
            expected = model.test_step(batch)[0].pred_instances
        got = detector.predict(data['inputs'],
                               data['data_samples'].metainfo)
        assert_same_instances(expected, got, f'trained {path.name}')
        total += len(got)
    assert total > 0


def test_pytorch2onnx_bad_paths(tmp_path, capsys):
    tool = load_tool('tools/deployment/pytorch2onnx.py')
    with pytest.raises(SystemExit, match='config file not found'):
        tool.main([str(tmp_path / 'nope.py'), 'x.pth', '--out', 'x.onnx'])
    with pytest.raises(SystemExit, match='checkpoint file not found'):
        tool.main([
            str(REPO_ROOT / CONFIG),
            str(tmp_path / 'nope.pth'), '--out', 'x.onnx'
        ])
    with pytest.raises(SystemExit):
        tool.main([str(REPO_ROOT / CONFIG), 'x.pth', '--out', 'x.onnx',
                   '--shape', '10x20'])
    assert 'size too small' in capsys.readouterr().err


def test_test_onnx_bad_paths(tmp_path, capsys):
    tool = load_tool('tools/deployment/test_onnx.py')
    with pytest.raises(SystemExit, match='ONNX model file not found'):
        tool.main([str(REPO_ROOT / CONFIG), str(tmp_path / 'nope.onnx')])
    with pytest.raises(SystemExit):
        tool.main([str(REPO_ROOT / CONFIG), 'x.onnx', '--tolerance', '0.1'])
    assert '--tolerance needs --checkpoint' in capsys.readouterr().err


def test_onnx_demo_bad_paths(tmp_path):
    demo = load_tool('demo/onnx_demo.py')
    with pytest.raises(SystemExit, match='ONNX model file not found'):
        demo.main([
            str(tmp_path),
            str(REPO_ROOT / CONFIG),
            str(tmp_path / 'nope.onnx')
        ])
