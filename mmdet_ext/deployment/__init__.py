"""Deployment: ONNX export of the detectors and ONNX Runtime inference.

- :mod:`.export_wrappers`: tensor-only inference graphs, one wrapper per head
  type (:func:`register_export_wrapper`);
- :mod:`.onnx_export`: :func:`export_onnx` writes the graph and its metadata;
- :mod:`.onnx_runtime`: :class:`ONNXRuntimeDetector` runs it;
- :mod:`.postprocess`: what runs after the graph (rescaling, NMS outside the
  graph, RLE masks).

onnx, onnxscript and onnxruntime (``requirements/deploy.txt``) are imported
only when exporting or running a graph.
"""
from .export_wrappers import (EXPORT_WRAPPERS, DetectorExportWrapper,
                              PolarExportWrapper, build_export_wrapper,
                              register_export_wrapper)
from .onnx_export import (METADATA_KEY, export_onnx, min_input_size,
                          read_metadata)
from .onnx_runtime import ONNXRuntimeDetector, image_batch
from .postprocess import (POSTPROCESSORS, polar_instances, postprocess,
                          register_postprocessor)

__all__ = [
    'EXPORT_WRAPPERS', 'DetectorExportWrapper', 'PolarExportWrapper',
    'build_export_wrapper', 'register_export_wrapper', 'METADATA_KEY',
    'export_onnx', 'min_input_size', 'read_metadata', 'ONNXRuntimeDetector',
    'image_batch', 'POSTPROCESSORS', 'polar_instances', 'postprocess',
    'register_postprocessor'
]
