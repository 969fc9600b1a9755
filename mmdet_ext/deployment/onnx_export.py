"""Export of a detector to an ONNX file through its export wrapper.

The graph takes one image, ``image`` (1, 3, H, W) float32, as the config's
test pipeline yields it (see :class:`DetectorExportWrapper`) and returns the
wrapper's outputs. What the runtime needs besides (whether NMS is in the
graph, the test config, the class names, the input sizes the graph accepts)
is stored as JSON in the model's ``metadata_props`` under
:data:`METADATA_KEY` and read back by :func:`read_metadata`.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .export_wrappers import DetectorExportWrapper, build_export_wrapper

#: Key of the JSON metadata in the ONNX model's ``metadata_props``.
METADATA_KEY = 'polar_instance_seg'
#: Version of the metadata layout.
METADATA_VERSION = 1
#: Name of the graph input.
INPUT_NAME = 'image'
#: Largest height / width a dynamic-shape graph is traced for.
MAX_DYNAMIC_SIZE = 4096
#: What the exported graphs were checked with (requirements/deploy.txt).
DEPLOY_REQUIREMENTS = 'requirements/deploy.txt'


def require_export_packages() -> None:
    """Fail with the install command when the exporter's packages (onnx,
    onnxscript) are missing."""
    missing = [
        name for name in ('onnx', 'onnxscript')
        if not _importable(name)
    ]
    if missing:
        raise ImportError(
            f'ONNX export needs {" and ".join(missing)}: pip install -r '
            f'{DEPLOY_REQUIREMENTS}')


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def min_input_size(wrapper: DetectorExportWrapper) -> int:
    """Smallest height / width a dynamic-shape graph accepts.

    The tracer assumes no feature map has a side of 1 (a size-1 dimension
    broadcasts, a larger one does not), so the coarsest level needs two
    cells: the padded input must exceed the largest stride.
    """
    strides = getattr(getattr(wrapper, 'head', None), 'strides', None)
    return (max(strides) if strides else wrapper.pad_size_divisor) + 1


def example_image(shape: Tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A random image (1, 3, H, W) with pixel values in [0, 255] to trace
    with (the values do not matter: no branch depends on them)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, 3, *shape), generator=generator).float()


def export_onnx(detector: nn.Module,
                out_file: str,
                shape: Tuple[int, int] = (800, 1333),
                dynamic_shape: bool = False,
                with_nms: bool = False,
                opset: Optional[int] = None,
                extra_metadata: Optional[Dict[str, object]] = None,
                verbose: bool = False) -> Dict[str, object]:
    """Export a detector (in eval mode, on the CPU) to ``out_file``.

    Args:
        detector (nn.Module): The detector.
        out_file (str): Output ``.onnx`` file (weights included).
        shape (tuple[int, int]): (H, W) of the input a static graph takes;
            the example to trace with for a dynamic one.
        dynamic_shape (bool): Accept any (H, W) from :func:`min_input_size`
            to :data:`MAX_DYNAMIC_SIZE`.
        with_nms (bool): NMS and ``max_per_img`` in the graph.
        opset (int, optional): ONNX opset; defaults to the exporter's.
        extra_metadata (dict, optional): More JSON-serialisable metadata
            (class names, palette, config...).
        verbose (bool): Print the exporter's progress.

    Returns:
        dict: The metadata written into the file.
    """
    require_export_packages()
    wrapper = build_export_wrapper(detector, with_nms=with_nms)
    low = min_input_size(wrapper)
    if min(shape) < low or max(shape) > MAX_DYNAMIC_SIZE:
        raise ValueError(f'input shape {tuple(shape)} out of the supported '
                         f'range [{low}, {MAX_DYNAMIC_SIZE}] per side')
    dynamic_shapes = None
    if dynamic_shape:
        dynamic_shapes = {
            INPUT_NAME: {
                2: torch.export.Dim('height', min=low, max=MAX_DYNAMIC_SIZE),
                3: torch.export.Dim('width', min=low, max=MAX_DYNAMIC_SIZE)
            }
        }
    with torch.no_grad():
        program = torch.onnx.export(
            wrapper, (example_image(shape), ),
            input_names=[INPUT_NAME],
            output_names=list(wrapper.output_names),
            opset_version=opset,
            dynamic_shapes=dynamic_shapes,
            dynamo=True,
            external_data=False,
            verbose=verbose)
    metadata = dict(
        wrapper.metadata(),
        version=METADATA_VERSION,
        input=INPUT_NAME,
        dynamic_shape=bool(dynamic_shape),
        shape=list(shape),
        min_size=low if dynamic_shape else None,
        max_size=MAX_DYNAMIC_SIZE if dynamic_shape else None,
        **(extra_metadata or {}))
    program.model.metadata_props[METADATA_KEY] = json.dumps(metadata)
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    program.save(out_file, external_data=False)
    return metadata


def read_metadata(metadata_props: Dict[str, str],
                  source: str = 'the model') -> Dict[str, object]:
    """The metadata :func:`export_onnx` stored.

    Args:
        metadata_props (dict[str, str]): The model's metadata (e.g.
            ``session.get_modelmeta().custom_metadata_map``).
        source (str): Name of the model in the error message.

    Raises:
        ValueError: The model was not exported by :func:`export_onnx`, or by
            a newer layout.
    """
    if METADATA_KEY not in metadata_props:
        raise ValueError(
            f'{source} has no {METADATA_KEY!r} metadata: export it with '
            'tools/deployment/pytorch2onnx.py')
    metadata = json.loads(metadata_props[METADATA_KEY])
    if metadata.get('version', 0) > METADATA_VERSION:
        raise ValueError(f'{source} was exported by a newer version of this '
                         f'code (metadata version {metadata["version"]})')
    return metadata


def dataset_metadata(classes: Optional[Sequence[str]],
                     palette: Optional[Sequence] = None) -> Dict[str, object]:
    """``classes`` and ``palette`` as JSON metadata (None entries left
    out)."""
    metadata: Dict[str, object] = {}
    if classes is not None:
        metadata['classes'] = [str(c) for c in classes]
    if palette is not None and not isinstance(palette, str):
        metadata['palette'] = [list(map(int, color)) for color in palette]
    elif isinstance(palette, str):
        metadata['palette'] = palette
    return metadata
