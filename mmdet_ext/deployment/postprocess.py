"""What runs after an exported graph: instances of the original image.

A graph returns its detections in the coordinates of its input (the resized
image). :func:`polar_instances` finishes them exactly as
:meth:`BasePolarHead._polygon_results` does in PyTorch: rescaling to the
original image, class-aware NMS and ``max_per_img`` when the graph has no
NMS (with the same ``mmcv.ops.batched_nms``), and RLE masks from the polygons
(:meth:`RLEMasks.from_polygons`), so that ``CocoMetric`` and the visualiser
take the result as they take the PyTorch model's.

Post-processors are looked up by the name of the export wrapper that wrote
the graph (``metadata['wrapper']``); register one for a new wrapper with
:func:`register_postprocessor`.
"""
from typing import Callable, Dict, Mapping, Optional

import numpy as np
import torch
from mmcv.ops import batched_nms
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_ext.structures.rle_masks import RLEMasks

Postprocessor = Callable[..., InstanceData]
#: Export wrapper class name -> post-processing function.
POSTPROCESSORS: Dict[str, Postprocessor] = {}


def register_postprocessor(
        *wrapper_names: str) -> Callable[[Postprocessor], Postprocessor]:
    """Function decorator: post-process the graphs of these export
    wrappers with the decorated function."""

    def register(function: Postprocessor) -> Postprocessor:
        for name in wrapper_names:
            POSTPROCESSORS[name] = function
        return function

    return register


def postprocess(outputs: Mapping[str, np.ndarray],
                img_meta: Mapping,
                metadata: Mapping,
                rescale: bool = True,
                mask_output: Optional[bool] = None) -> InstanceData:
    """Instances of one image from the graph outputs.

    Args:
        outputs (Mapping[str, ndarray]): Graph outputs by name.
        img_meta (Mapping): ``img_shape`` (the graph input's (H, W)) and,
            with ``rescale``, ``scale_factor`` (w, h) and ``ori_shape``.
        metadata (Mapping): The graph's metadata
            (:func:`~mmdet_ext.deployment.onnx_export.read_metadata`).
        rescale (bool): Map the instances to the original image.
        mask_output (bool, optional): Add RLE ``masks``; defaults to the
            exported ``test_cfg.mask_output`` (True if unset).

    Returns:
        :obj:`InstanceData`: As the PyTorch model's ``pred_instances``.
    """
    name = metadata.get('wrapper')
    if name not in POSTPROCESSORS:
        raise ValueError(f'no post-processing for graphs of {name!r}; known: '
                         f'{", ".join(sorted(POSTPROCESSORS))}')
    return POSTPROCESSORS[name](outputs, img_meta, metadata, rescale,
                                mask_output)


@register_postprocessor('PolarNeXtExportWrapper', 'PolarMaskExportWrapper')
def polar_instances(outputs: Mapping[str, np.ndarray],
                    img_meta: Mapping,
                    metadata: Mapping,
                    rescale: bool = True,
                    mask_output: Optional[bool] = None) -> InstanceData:
    """Polar graph outputs (``boxes`` (n, 4), ``scores`` (n, ), ``labels``
    (n, ), ``polygons`` (n, K, 2), ``origins`` (n, 2)) to instances
    (see :func:`postprocess`).

    Returns:
        :obj:`InstanceData`: ``scores`` (m, ), ``labels`` (m, ), ``bboxes``
        (m, 4), ``polygons`` (m, K, 2), ``origins`` (m, 2) and, with
        ``mask_output``, ``masks`` (:class:`RLEMasks` at the output size).
    """
    test_cfg = metadata.get('test_cfg', {})
    columns = {
        key: torch.from_numpy(np.asarray(outputs[key]))
        for key in ('boxes', 'scores', 'labels', 'polygons', 'origins')
    }
    out_shape = tuple(img_meta['img_shape'][:2])
    if rescale:
        _rescale(columns, img_meta['scale_factor'])
        out_shape = tuple(img_meta['ori_shape'][:2])
    results = InstanceData(
        scores=columns['scores'],
        labels=columns['labels'].long(),
        bboxes=columns['boxes'],
        polygons=columns['polygons'],
        origins=columns['origins'])
    if not metadata.get('with_nms', False):
        results = _nms(results, test_cfg)
    if mask_output is None:
        mask_output = test_cfg.get('mask_output', True)
    if mask_output:
        results.masks = RLEMasks.from_polygons(results.polygons, *out_shape)
    return results


def _rescale(columns: Dict[str, Tensor], scale_factor) -> None:
    """Divide the coordinates by the (w, h) scale factor, in place."""
    scale = columns['polygons'].new_tensor(list(scale_factor)[:2])
    columns['polygons'] = columns['polygons'] / scale
    columns['origins'] = columns['origins'] / scale
    columns['boxes'] = columns['boxes'] / scale.repeat(2)


def _nms(results: InstanceData, test_cfg: Mapping) -> InstanceData:
    """Class-aware NMS and the top ``max_per_img``, as the polar heads do
    after rescaling."""
    if len(results) > 0:
        det_bboxes, keep = batched_nms(results.bboxes, results.scores,
                                       results.labels, dict(test_cfg['nms']))
        results = results[keep]
        results.scores = det_bboxes[:, -1]
    return results[:test_cfg.get('max_per_img', 100)]
