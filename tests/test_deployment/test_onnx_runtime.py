"""ONNX export and ONNX Runtime inference against PyTorch.

Each exported graph is built once per module (an export of a tiny model
takes one to four minutes on 2 busy cores, hence ``slow``):

- PolarNeXt, random weights with forced detections, dynamic shape, NMS
  outside the graph;
- PolarMask, random weights with forced detections that leave a uniform
  grey image without any, dynamic shape, NMS in the graph.

Tolerances (ONNX Runtime vs PyTorch, both float32): scores within
``SCORE_TOL`` = 1e-4, boxes, polygons and origins within ``COORD_TOL`` =
0.01 px, labels equal, RLE mask IoU >= 0.99 per detection. The measured
differences are printed (``pytest -s``).
"""
import json
import math

import mmcv
import numpy as np
import pytest
import torch

onnxruntime = pytest.importorskip(
    'onnxruntime',
    reason='deployment group not installed: pip install -r '
    'requirements/deploy.txt')
pytest.importorskip(
    'onnxscript',
    reason='deployment group not installed: pip install -r '
    'requirements/deploy.txt')
onnx = pytest.importorskip(
    'onnx',
    reason='deployment group not installed: pip install -r '
    'requirements/deploy.txt')

from conftest import REPO_ROOT, load_tool  # noqa: E402
from deploy_cases import (CLASSES, CONFIGS,  # noqa: E402
                          assert_same_instances, forced_model, image_batch,
                          load_config, pytorch_instances, refining_model)
from mmdet_ext.deployment import (ONNXRuntimeDetector,  # noqa: E402
                                  export_onnx, read_metadata)
from mmdet_ext.deployment.detector import dataset_meta  # noqa: E402
from mmdet_ext.deployment.onnx_export import dataset_metadata  # noqa: E402
from mmdet_ext.utils.forced_detections import class_logits  # noqa: E402

pytestmark = pytest.mark.slow

# Calibration size, no multiple of 32, portrait, the smallest accepted, wide.
SIZES = [(192, 256), (200, 300), (320, 224), (129, 129), (160, 416)]
EMPTY_SIZE = (192, 256)
GREY = 128


def silence_on(model, data, margin=0.5):
    """Lower the class-0 bias of ``model`` so that no location of ``data``
    passes ``score_thr`` (by ``margin`` in logits); other images with
    stronger responses still detect."""
    head = model.bbox_head
    inputs = model.data_preprocessor(data, False)['inputs']
    with torch.no_grad():
        highest = max(
            float(level[:, 0].max()) for level in class_logits(model, inputs))
        score_thr = float(head.test_cfg.get('score_thr', 0.05))
        threshold = math.log(score_thr / (1 - score_thr))
        head.conv_cls.bias[0] -= max(highest - threshold + margin, 0.0)


@pytest.fixture(scope='module')
def polarnext(tmp_path_factory):
    """(model, graph path, checkpoint path): NMS outside the graph; the
    checkpoint and the graph carry the toy classes and palette."""
    model = forced_model('polarnext')
    out_dir = tmp_path_factory.mktemp('onnx')
    meta = dataset_meta(load_config('polarnext'))
    checkpoint = out_dir / 'polarnext.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=meta)), str(checkpoint))
    path = out_dir / 'polarnext.onnx'
    export_onnx(
        model,
        str(path),
        shape=(192, 256),
        dynamic_shape=True,
        extra_metadata=dataset_metadata(meta['classes'], meta['palette']))
    return model, str(path), str(checkpoint)


@pytest.fixture(scope='module')
def polarmask(tmp_path_factory):
    """(model, graph path): NMS in the graph; nothing on a grey image."""
    model = forced_model('polarmask')
    silence_on(model, image_batch(EMPTY_SIZE, 0, fill=GREY))
    path = tmp_path_factory.mktemp('onnx') / 'polarmask.onnx'
    export_onnx(
        model, str(path), shape=(192, 256), dynamic_shape=True, with_nms=True)
    return model, str(path)


@pytest.mark.parametrize('size', SIZES)
def test_polarnext_parity_dynamic_sizes(polarnext, size):
    model, path, _ = polarnext
    detector = ONNXRuntimeDetector(path, num_threads=1)
    data = image_batch(size, seed=1, scale=(0.8, 0.75))
    expected = pytorch_instances(model, data)
    got = detector.predict(data['inputs'][0], data['data_samples'][0].metainfo)
    assert len(expected) >= 10
    assert_same_instances(expected, got, f'PolarNeXt ONNX {size}')


def test_polarnext_refine_parity(tmp_path):
    """The refinement steps in the graph: rays and scores as PyTorch's, on
    a size other than the export's."""
    model = refining_model()
    path = tmp_path / 'refine.onnx'
    export_onnx(model, str(path), shape=(192, 256), dynamic_shape=True)
    detector = ONNXRuntimeDetector(str(path), num_threads=1)
    data = image_batch((200, 300), seed=1, scale=(0.8, 0.75))
    expected = pytorch_instances(model, data)
    got = detector.predict(data['inputs'][0], data['data_samples'][0].metainfo)
    assert len(expected) >= 10
    assert_same_instances(expected, got, 'PolarNeXt refine ONNX')


@pytest.mark.parametrize('size', SIZES)
def test_polarmask_parity_dynamic_sizes_nms_in_graph(polarmask, size):
    model, path = polarmask
    detector = ONNXRuntimeDetector(path, num_threads=1)
    data = image_batch(size, seed=1)
    expected = pytorch_instances(model, data)
    got = detector.predict(data['inputs'][0], data['data_samples'][0].metainfo)
    assert len(expected) >= 5
    assert_same_instances(expected, got, f'PolarMask ONNX {size}')


def test_image_without_detections(polarmask):
    model, path = polarmask
    data = image_batch(EMPTY_SIZE, 0, fill=GREY)
    assert len(pytorch_instances(model, data)) == 0
    detector = ONNXRuntimeDetector(path, num_threads=1)
    outputs = detector.run(data['inputs'][0])
    shapes = {name: value.shape for name, value in outputs.items()}
    assert shapes == dict(
        boxes=(0, 4), scores=(0, ), labels=(0, ), polygons=(0, 36, 2),
        origins=(0, 2))
    got = detector.predict(data['inputs'][0], data['data_samples'][0].metainfo)
    assert len(got) == 0 and len(got.masks) == 0
    assert got.masks.height == 192 and got.masks.width == 256


def test_metadata_describes_the_graph(polarnext, polarmask):
    for path, with_nms in ((polarnext[1], False), (polarmask[1], True)):
        detector = ONNXRuntimeDetector(path)
        meta = detector.metadata
        assert meta['with_nms'] is with_nms
        assert meta['outputs'] == detector.output_names == [
            'boxes', 'scores', 'labels', 'polygons', 'origins'
        ]
        assert meta['test_cfg']['score_thr'] == 0.05
        assert meta['num_rays'] == 36 and meta['num_classes'] == 3
        assert meta['dynamic_shape'] and meta['min_size'] == 129
        height, width = [d for d in detector.session.get_inputs()[0].shape
                         ][2:]
        assert isinstance(height, str) and isinstance(width, str)
    assert ONNXRuntimeDetector(polarnext[1]).classes == list(CLASSES)
    assert ONNXRuntimeDetector(polarmask[1]).classes is None


def test_bad_inputs_have_clear_errors(polarnext):
    detector = ONNXRuntimeDetector(polarnext[1])
    with pytest.raises(ValueError, match=r'out of the exported range '
                       r'\[129, 4096\]'):
        detector.run(np.zeros((3, 100, 300), np.uint8))
    with pytest.raises(ValueError, match=r'expected an image \(3, H, W\)'):
        detector.run(np.zeros((100, 300, 3, 1), np.uint8))
    # A static graph takes its own size only.
    detector.metadata = dict(detector.metadata, dynamic_shape=False,
                             shape=[192, 256])
    with pytest.raises(ValueError, match='exported for 192 x 256 inputs only'):
        detector.run(np.zeros((3, 200, 256), np.uint8))


def test_foreign_onnx_file_is_rejected(tmp_path):
    """A graph that export_onnx did not write has no metadata."""
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node('Identity', ['image'], ['out'])], 'g',
        [helper.make_tensor_value_info('image', TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, [1])])
    path = tmp_path / 'foreign.onnx'
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="has no 'polar_instance_seg' "
                       'metadata: export it with'):
        ONNXRuntimeDetector(str(path))
    with pytest.raises(ValueError, match='newer version'):
        read_metadata({'polar_instance_seg': '{"version": 99}'})


def test_onnx_demo_draws_what_image_demo_draws(polarnext, toy_root,
                                               tmp_path, monkeypatch):
    """The same picture (up to a few anti-aliased pixels) and the same
    predictions as demo/image_demo.py with the PyTorch checkpoint."""
    _, path, checkpoint = polarnext
    # The visualiser jitters each mask colour at random: no jitter here.
    monkeypatch.setattr('mmdet.visualization.local_visualizer.jitter_color',
                        lambda color: color)
    image_demo = load_tool('demo/image_demo.py')
    onnx_demo = load_tool('demo/onnx_demo.py')
    image = sorted((toy_root / 'val').glob('*.png'))[0]
    config = str(REPO_ROOT / CONFIGS['polarnext'])
    common = ['--pred-score-thr', '0.05', '--draw-rays']
    expected = image_demo.main([
        str(image), config, '--weights', checkpoint, '--device', 'cpu',
        '--out-dir', str(tmp_path / 'torch'), *common
    ])
    got = onnx_demo.main([
        str(image), config, path, '--threads', '1', '--out-dir',
        str(tmp_path / 'onnx'), *common
    ])
    assert len(expected) == len(got) == 1
    expected_png, got_png = mmcv.imread(expected[0]), mmcv.imread(got[0])
    assert expected_png.shape == got_png.shape
    differing = (np.abs(expected_png.astype(int) - got_png).sum(-1) >
                 30).mean()
    print(f'demo: {differing:.2e} of the pixels differ')
    assert differing < 1e-3
    preds = [
        json.loads((tmp_path / run / 'preds' / (image.stem + '.json'))
                   .read_text()) for run in ('torch', 'onnx')
    ]
    assert len(preds[0]['labels']) > 0
    assert preds[0]['labels'] == preds[1]['labels']
    assert np.allclose(preds[0]['scores'], preds[1]['scores'], atol=1e-4)
    assert np.allclose(preds[0]['bboxes'], preds[1]['bboxes'], atol=1e-2)
