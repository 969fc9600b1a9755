"""ONNX export of SparseInst (NMS-free, masks out of the graph).

Eager tests (no deployment group needed): the export formulations of the
pyramid pooling and of the coordinate features equal the training ones, and
the export wrapper plus the post-processor reproduce ``model.test_step``
exactly. ONNX Runtime tests (``slow``; one dynamic-shape export per module):
scores within 1e-4, labels equal, mask probabilities within 1e-4 of the
PyTorch model's on several input sizes, and an image without detections.
"""
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from deploy_cases import image_batch
from mmdet_ext.deployment import build_export_wrapper, postprocess
from mmdet_ext.deployment.detector import load_detector
from mmengine.config import Config
from conftest import REPO_ROOT

CONFIG = 'projects/SparseInst/configs/sparseinst_r18_iam_toy-cpu.py'
SIZES = [(192, 256), (200, 300), (97, 131)]
PROB_TOL = 1e-4
SCORE_TOL = 1e-4


GREY = 128


def sparseinst() -> torch.nn.Module:
    """The tiny SparseInst with random weights (seeded)."""
    cfg = Config.fromfile(str(REPO_ROOT / CONFIG))
    torch.manual_seed(0)
    return load_detector(cfg)


def query_scores(model, data) -> torch.Tensor:
    """sqrt(cls * obj) of the best class of every query (N, )."""
    inputs = model.data_preprocessor(data, False)['inputs']
    with torch.no_grad():
        outputs = model._forward(inputs)
    return (outputs['pred_logits'][0].sigmoid() *
            outputs['pred_scores'][0].sigmoid()).sqrt().amax(-1)


@pytest.fixture(scope='module')
def model():
    """Random weights, ``score_thr`` halfway between the best query of a
    uniform grey image and the weakest best query of the test images: the
    test images keep some queries, the grey image none."""
    model = sparseinst()
    grey = float(query_scores(model, image_batch(SIZES[0], 0,
                                                 fill=GREY)).max())
    weakest = min(
        float(query_scores(model, image_batch(size, 1)).max())
        for size in SIZES)
    assert grey < weakest, (grey, weakest)
    model.test_cfg.score_thr = (grey + weakest) / 2
    return model


def reference_queries(model, data):
    """Final scores (n, ) and mask probabilities (n, h, w) of the queries
    PyTorch keeps, by decreasing score."""
    inputs = model.data_preprocessor(data, False)['inputs']
    with torch.no_grad():
        probs = model._forward(inputs)['pred_masks'][0].sigmoid()
    scores = query_scores(model, data)
    keep = scores > model.test_cfg.score_thr
    scores = scores[keep] * model.maskness(probs[keep],
                                           model.test_cfg.mask_thr)
    order = scores.argsort(descending=True)
    return scores[order], probs[keep][order]


def largest_prob_difference(scores, probs, ref_scores, ref_probs) -> float:
    """Largest difference of each query's mask probabilities to the
    reference query it matches: random weights give near-equal scores whose
    order may flip between runtimes, so each query takes the closest unused
    reference mask among those whose score is within ``SCORE_TOL``."""
    used, largest = set(), 0.0
    for score, prob in zip(scores, probs):
        candidates = [
            j for j in range(len(ref_scores))
            if j not in used and abs(float(ref_scores[j] - score)) <= SCORE_TOL
        ]
        assert candidates, f'no reference query with score {float(score)}'
        diffs = [float((ref_probs[j] - prob).abs().max()) for j in candidates]
        best = min(range(len(candidates)), key=diffs.__getitem__)
        used.add(candidates[best])
        largest = max(largest, diffs[best])
    return largest


def test_export_pooling_equals_adaptive_avg_pool():
    from projects.SparseInst.sparseinst.encoder import PyramidPoolingModule
    for height, width in [(7, 9), (13, 5), (1, 3), (25, 42)]:
        x = torch.randn(2, 3, height, width)
        for bins in (1, 2, 3, 6):
            with mock.patch('torch.compiler.is_exporting', return_value=True):
                pooled = PyramidPoolingModule.pool(x, bins)
            expected = F.adaptive_avg_pool2d(x, bins)
            assert pooled.shape == expected.shape
            assert torch.allclose(pooled, expected, atol=1e-6), (height,
                                                                 width, bins)


def test_coordinate_features_are_the_official_linspace():
    from projects.SparseInst.sparseinst.decoder import coordinate_features
    coords = coordinate_features(torch.zeros(1, 4, 3, 5))
    assert torch.allclose(coords[0, 0, 0], torch.linspace(-1, 1, 5))
    assert torch.allclose(coords[0, 1, :, 0], torch.linspace(-1, 1, 3))
    # one location: -1 (the official formula divides by zero)
    assert coordinate_features(torch.zeros(1, 4, 1, 1)).eq(-1).all()


@pytest.mark.parametrize('size', SIZES[:2])
def test_wrapper_and_postprocess_equal_test_step(model, size):
    wrapper = build_export_wrapper(model)
    assert type(wrapper).__name__ == 'SparseInstExportWrapper'
    data = image_batch(size, 1, scale=(0.5, 0.5))
    with torch.no_grad():
        expected = model.test_step(data)[0].pred_instances
        outputs = wrapper(data['inputs'][0][None].float())
    got = postprocess(
        dict(zip(wrapper.output_names, (o.numpy() for o in outputs))),
        data['data_samples'][0].metainfo, wrapper.metadata())
    assert len(got) == len(expected) > 0
    assert torch.allclose(got.scores, expected.scores, atol=1e-6)
    assert torch.equal(got.labels, expected.labels)
    assert torch.equal(got.bboxes, expected.bboxes)
    assert [dict(m) for m in got.masks] == [dict(m) for m in expected.masks]


def test_wrapper_ignores_with_nms(model):
    wrapper = build_export_wrapper(model, with_nms=True)
    assert not wrapper.with_nms
    assert wrapper.metadata()['outputs'] == ['scores', 'labels', 'mask_probs']


@pytest.fixture(scope='module')
def graph(model, tmp_path_factory):
    pytest.importorskip('onnxruntime', reason='deployment group not '
                        'installed: pip install -r requirements/deploy.txt')
    pytest.importorskip('onnxscript', reason='deployment group not '
                        'installed: pip install -r requirements/deploy.txt')
    from mmdet_ext.deployment import export_onnx
    path = tmp_path_factory.mktemp('onnx') / 'sparseinst.onnx'
    export_onnx(model, str(path), shape=(192, 256), dynamic_shape=True)
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize('size', SIZES)
def test_onnx_runtime_parity_dynamic_sizes(model, graph, size):
    from mmdet_ext.deployment import ONNXRuntimeDetector
    data = image_batch(size, 1, scale=(0.5, 0.5))
    with torch.no_grad():
        expected = model.test_step(data)[0].pred_instances
    outputs = ONNXRuntimeDetector(graph).run(data['inputs'][0])
    scores = torch.from_numpy(outputs['scores'])
    assert len(scores) == len(expected) > 0
    score_diff = float((scores - expected.scores).abs().max())
    probs = torch.from_numpy(outputs['mask_probs'])
    prob_diff = largest_prob_difference(scores, probs,
                                        *reference_queries(model, data))
    print(f'SparseInst {size}: {len(scores)} queries, max abs diff scores '
          f'{score_diff:.2e}, mask probabilities {prob_diff:.2e}')
    assert score_diff <= SCORE_TOL
    assert sorted(outputs['labels'].tolist()) == sorted(
        expected.labels.tolist())
    assert prob_diff <= PROB_TOL


@pytest.mark.slow
def test_onnx_runtime_image_without_detections(graph):
    """No query of a grey image passes ``score_thr``: empty outputs, and
    empty instances with every field."""
    from mmdet_ext.deployment import ONNXRuntimeDetector
    detector = ONNXRuntimeDetector(graph)
    data = image_batch(SIZES[0], 0, fill=GREY)
    outputs = detector.run(data['inputs'][0])
    assert outputs['mask_probs'].shape[0] == 0
    assert outputs['mask_probs'].shape[1:] == (SIZES[0][0] // 4,
                                               SIZES[0][1] // 4)
    results = detector.predict(data['inputs'][0],
                               data['data_samples'][0].metainfo)
    assert len(results) == 0
    assert results.bboxes.shape == (0, 4)
    assert len(results.masks) == 0
