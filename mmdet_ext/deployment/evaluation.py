"""COCO evaluation of exported and PyTorch detectors over the same batches.

:func:`evaluate` runs the config's test dataloader once and gives every
batch to each predictor in turn, each with its own evaluator built from
``test_evaluator`` (``CocoMetric`` for the polar configs), so that the ONNX
Runtime graph and the PyTorch model are scored on identical inputs.
"""
from typing import Callable, Dict, List, Mapping

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import EVALUATOR
from mmengine.runner import Runner

from mmdet.structures import DetDataSample
from .onnx_runtime import ONNXRuntimeDetector

#: A predictor takes a dataloader batch and returns its samples with
#: ``pred_instances``.
Predictor = Callable[[dict], List[DetDataSample]]


def onnx_predictor(detector: ONNXRuntimeDetector) -> Predictor:
    """Predictor of an ONNX Runtime graph: one image at a time (the graphs
    take a batch of one), results rescaled to the original image."""

    def predict(data_batch: dict) -> List[DetDataSample]:
        samples = data_batch['data_samples']
        for image, sample in zip(data_batch['inputs'], samples):
            sample.pred_instances = detector.predict(image, sample.metainfo)
        return samples

    return predict


def pytorch_predictor(model: nn.Module) -> Predictor:
    """Predictor of the PyTorch model (``model.test_step``, as the test
    loop)."""

    def predict(data_batch: dict) -> List[DetDataSample]:
        with torch.no_grad():
            return model.test_step(data_batch)

    return predict


def build_evaluator(evaluator_cfg) -> Evaluator:
    """An evaluator from a config, as ``Runner.build_evaluator`` builds it
    (an instance method there)."""
    if isinstance(evaluator_cfg, dict) and 'metrics' in evaluator_cfg:
        return EVALUATOR.build(evaluator_cfg)
    return Evaluator(evaluator_cfg)


def evaluate(cfg: Config,
             predictors: Mapping[str, Predictor]
             ) -> Dict[str, Dict[str, float]]:
    """Metrics of each predictor on the config's test set.

    Args:
        cfg (Config): Config with ``test_dataloader`` and ``test_evaluator``.
        predictors (Mapping[str, Predictor]): Named predictors.

    Returns:
        dict[str, dict[str, float]]: Metrics by predictor name.
    """
    dataloader = Runner.build_dataloader(cfg.test_dataloader)
    evaluators = {}
    for name in predictors:
        evaluator = build_evaluator(cfg.test_evaluator)
        evaluator.dataset_meta = dataloader.dataset.metainfo
        evaluators[name] = evaluator
    for data_batch in dataloader:
        for name, predict in predictors.items():
            # Each evaluator copies what it needs in process(), so the next
            # predictor may overwrite the samples' pred_instances.
            evaluators[name].process(
                data_samples=predict(data_batch), data_batch=data_batch)
    return {
        name: evaluator.evaluate(len(dataloader.dataset))
        for name, evaluator in evaluators.items()
    }
