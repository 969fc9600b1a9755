"""Models and inputs shared by the deployment tests: the tiny toy configs of
PolarNeXt and PolarMask with random weights whose detections are forced
(:func:`force_detections`: random weights alone detect nothing), and images
with a chosen scale factor."""
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from conftest import REPO_ROOT
from mmdet.structures import DetDataSample
from mmdet_ext.deployment.detector import import_config_modules
from mmdet_ext.utils.benchmark import build_model
from mmdet_ext.utils.forced_detections import force_detections

CONFIGS = {
    'polarnext': 'projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py',
    'polarnext-refine':
    'projects/PolarNeXt/configs/polarnext_r18_fpn-p2-refine_toy-cpu.py',
    'polarmask': 'projects/PolarMask/configs/polarmask_r18_fpn_toy-cpu.py',
}
CLASSES = ('ellipse', 'star', 'bracket')
#: Locations forced above the score threshold on the calibration image.
NUM_FORCED = 300
#: The calibration image.
CALIBRATION_SIZE = (192, 256)

# Tolerances of ONNX Runtime against PyTorch (float32 both; different conv
# kernels and op order): scores are probabilities, coordinates pixels.
SCORE_TOL = 1e-4
COORD_TOL = 1e-2


def load_config(name: str) -> Config:
    cfg = Config.fromfile(str(REPO_ROOT / CONFIGS[name]))
    import_config_modules(cfg)
    return cfg


def forced_model(name: str, seed: int = 0,
                 forced: bool = True) -> torch.nn.Module:
    """Tiny model of ``name`` on the CPU in eval mode, random weights (seeded),
    with ``NUM_FORCED`` detections forced on the calibration image unless
    ``forced`` is False (then nothing passes the score threshold)."""
    cfg = load_config(name)
    torch.manual_seed(seed)
    model = build_model(cfg.model, torch.device('cpu')).eval()
    if forced:
        inputs = model.data_preprocessor(image_batch(CALIBRATION_SIZE, 0),
                                         False)['inputs']
        force_detections(model, inputs, NUM_FORCED)
    return model


def image_batch(size: Tuple[int, int],
                seed: int,
                scale: Tuple[float, float] = (1.0, 1.0),
                fill: Optional[int] = None) -> Dict:
    """One random uint8 image (3, H, W) (or a uniform one of value ``fill``)
    and its sample as the test pipeline yields them, ``scale`` = (w, h)
    being the factor of the resize from the original image."""
    height, width = size
    if fill is None:
        generator = torch.Generator().manual_seed(seed)
        image = torch.randint(
            0, 256, (3, height, width), dtype=torch.uint8,
            generator=generator)
    else:
        image = torch.full((3, height, width), fill, dtype=torch.uint8)
    ori_shape = (int(round(height / scale[1])), int(round(width / scale[0])))
    sample = DetDataSample(
        metainfo=dict(
            img_id=0,
            img_path='',
            img_shape=(height, width),
            ori_shape=ori_shape,
            scale_factor=tuple(scale)))
    return dict(inputs=[image], data_samples=[sample])


def pytorch_instances(model: torch.nn.Module, data: Dict) -> InstanceData:
    """``model.test_step`` (rescaled, with masks) of a batch of one."""
    with torch.no_grad():
        return model.test_step(data)[0].pred_instances


def match_order(expected: InstanceData, got: InstanceData,
                score_tol: float) -> torch.Tensor:
    """Index into ``got`` for each expected detection.

    Both are sorted by score, but equal scores (common for a briefly trained
    model) may come in either order: each expected detection takes the
    closest unused polygon among the detections of its label whose score is
    within ``score_tol``.
    """
    order, used = [], set()
    for i in range(len(expected)):
        candidates = [
            j for j in range(len(got)) if j not in used
            and int(got.labels[j]) == int(expected.labels[i])
            and abs(float(got.scores[j] - expected.scores[i])) <= score_tol
        ]
        assert candidates, f'no match for expected detection {i}'
        distances = [
            float((got.polygons[j] - expected.polygons[i]).abs().max())
            for j in candidates
        ]
        best = candidates[int(np.argmin(distances))]
        used.add(best)
        order.append(best)
    return torch.tensor(order, dtype=torch.long)


def max_differences(expected: InstanceData,
                    got: InstanceData) -> Dict[str, float]:
    """Largest absolute differences of the instances (same count and order
    expected)."""
    assert len(expected) == len(got), (len(expected), len(got))
    if not len(got):
        return {}
    return {
        key: float((expected[key].float() - got[key].float()).abs().max())
        for key in ('scores', 'bboxes', 'polygons', 'origins')
    }


def mask_ious(expected: InstanceData, got: InstanceData) -> np.ndarray:
    """IoU of each pair of RLE masks; 1 for two empty masks (a polygon
    thinner than the pixel centres, or clipped away at the border)."""
    from pycocotools import mask as mask_utils
    if not len(got):
        return np.ones(0)
    got_rles = [dict(m) for m in got.masks]
    expected_rles = [dict(m) for m in expected.masks]
    ious = np.diag(
        np.asarray(mask_utils.iou(got_rles, expected_rles, [0] * len(got))))
    both_empty = (mask_utils.area(got_rles) == 0) & (
        mask_utils.area(expected_rles) == 0)
    return np.where(both_empty, 1.0, ious)


def assert_same_instances(expected: InstanceData, got: InstanceData,
                          label: str, score_tol: float = SCORE_TOL,
                          coord_tol: float = COORD_TOL) -> Dict[str, float]:
    """Same detections (tied scores in any order) within the tolerances;
    prints the largest differences (the tests' record of the parity)."""
    assert len(expected) == len(got), (label, len(expected), len(got))
    if len(got):
        got = got[match_order(expected, got, score_tol)]
    diffs = max_differences(expected, got)
    print(f'{label}: {len(got)} detections, max abs diff ' + ', '.join(
        f'{k} {v:.2e}' for k, v in diffs.items()))
    if not len(got):
        return diffs
    assert torch.equal(expected.labels.long(), got.labels.long()), label
    assert diffs['scores'] <= score_tol, (label, diffs)
    for key in ('bboxes', 'polygons', 'origins'):
        assert diffs[key] <= coord_tol, (label, key, diffs)
    ious = mask_ious(expected, got)
    assert ious.min() >= 0.99, (label, ious.min())
    return diffs


def refining_model() -> torch.nn.Module:
    """The forced refine model, its refinement steps given seeded random
    last layers (an untrained step returns its input rays): the graph must
    move the rays and score the polygons as PyTorch does."""
    model = forced_model('polarnext-refine')
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for refiner in model.bbox_head.refiners:
            for layer in (refiner.ray_out, refiner.quality_out):
                if layer is None:  # a step without quality
                    continue
                layer.weight.copy_(
                    torch.randn(layer.weight.shape, generator=generator) *
                    0.05)
    return model
