"""ONNX Runtime inference of an exported detector.

:class:`ONNXRuntimeDetector` runs a graph written by
:func:`~mmdet_ext.deployment.onnx_export.export_onnx` on the images of the
config's test pipeline and returns the same ``InstanceData`` as the PyTorch
model's ``predict`` (:func:`~mmdet_ext.deployment.postprocess.postprocess`),
so that ``CocoMetric``, the visualiser and the demo take either.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.structures import InstanceData

from .onnx_export import DEPLOY_REQUIREMENTS, read_metadata
from .postprocess import postprocess


def import_onnxruntime():
    """``onnxruntime``, or an ImportError that says how to install it."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError('ONNX Runtime inference needs onnxruntime: pip '
                          f'install -r {DEPLOY_REQUIREMENTS}') from err
    return onnxruntime


def image_batch(image: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
    """One image as the graph input: (1, 3, H, W) float32, C-contiguous.

    Args:
        image (Tensor | ndarray): (3, H, W) as ``PackDetInputs`` yields it
            (uint8, the loader's channel order), or already (1, 3, H, W).
    """
    array = image.detach().cpu().numpy() if isinstance(
        image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[:2] != (1, 3):
        raise ValueError('expected an image (3, H, W) or (1, 3, H, W), got '
                         f'shape {tuple(array.shape)}')
    return np.ascontiguousarray(array, dtype=np.float32)


class ONNXRuntimeDetector:
    """An exported detector in an ONNX Runtime session.

    Args:
        onnx_file (str): Graph written by ``export_onnx``
            (``tools/deployment/pytorch2onnx.py``).
        num_threads (int, optional): Intra-op threads; defaults to ONNX
            Runtime's choice (one per core).
        providers (Sequence[str], optional): Execution providers; defaults to
            ``CPUExecutionProvider``.
    """

    def __init__(self,
                 onnx_file: str,
                 num_threads: Optional[int] = None,
                 providers: Optional[Sequence[str]] = None) -> None:
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
            options.inter_op_num_threads = 1
        options.graph_optimization_level = \
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            onnx_file,
            sess_options=options,
            providers=list(providers or ['CPUExecutionProvider']))
        self.metadata = read_metadata(
            self.session.get_modelmeta().custom_metadata_map, onnx_file)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def classes(self) -> Optional[List[str]]:
        """Class names stored at export, if any."""
        return self.metadata.get('classes')

    def check_shape(self, height: int, width: int) -> None:
        """Raise a ValueError for an input size the graph was not exported
        for."""
        meta = self.metadata
        if not meta.get('dynamic_shape'):
            if [height, width] != list(meta['shape']):
                raise ValueError(
                    f'this graph was exported for {meta["shape"][0]} x '
                    f'{meta["shape"][1]} inputs only, got {height} x {width}:'
                    ' resize the image to that size, or export with '
                    '--dynamic-shape')
            return
        low, high = meta['min_size'], meta['max_size']
        if not (low <= height <= high and low <= width <= high):
            raise ValueError(
                f'input {height} x {width} out of the exported range '
                f'[{low}, {high}] per side')

    def run(self, image: Union[torch.Tensor, np.ndarray]
            ) -> Dict[str, np.ndarray]:
        """The raw graph outputs of one image, by name.

        Args:
            image (Tensor | ndarray): (3, H, W) or (1, 3, H, W) pixel values
                in the loader's channel order.
        """
        batch = image_batch(image)
        self.check_shape(*batch.shape[-2:])
        values = self.session.run(self.output_names, {self.input_name: batch})
        return dict(zip(self.output_names, values))

    def predict(self,
                image: Union[torch.Tensor, np.ndarray],
                img_meta: Mapping,
                rescale: bool = True,
                mask_output: Optional[bool] = None) -> InstanceData:
        """Instances of one image, as the PyTorch model predicts them.

        Args:
            image (Tensor | ndarray): (3, H, W) image of the test pipeline.
            img_meta (Mapping): Its meta information (``img_shape``,
                ``scale_factor``, ``ori_shape``).
            rescale (bool): Map the instances to the original image.
            mask_output (bool, optional): Add RLE masks; defaults to the
                exported ``test_cfg.mask_output``.

        Returns:
            :obj:`InstanceData`: See
            :func:`~mmdet_ext.deployment.postprocess.postprocess`.
        """
        outputs = self.run(image)
        return postprocess(outputs, img_meta, self.metadata, rescale,
                           mask_output)
