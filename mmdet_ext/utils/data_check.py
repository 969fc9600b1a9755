"""Pre-flight checks of the datasets a config refers to.

Without them a wrong ``data_root``, a missing image or a corrupt annotation file surfaces as
a traceback from deep inside a DataLoader worker or pycocotools. The tools run
:func:`check_datasets` before building the runner so that such problems stop the run with
one message that names the file.
"""
import json
import math
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.config import Config, ConfigDict

#: Dataset wrappers whose real datasets sit under these keys.
_WRAPPED_KEYS = ('dataset', 'datasets')
#: How many missing images are listed in the error message.
_MAX_LISTED = 5
#: Polygon coordinates further than this many image sizes outside the image
#: make pycocotools allocate memory in proportion to the coordinate.
_MAX_OUTSIDE = 16


class DataCheckError(RuntimeError):
    """A dataset referred to by the config is missing or unreadable."""


class ImageLoadError(DataCheckError):
    """An image file exists but cannot be used (truncated, not an image).

    Raised by ``CheckedLoadImageFromFile`` while the data is loaded. A
    DataLoader worker re-raises it in the main process with the worker's
    traceback as the message; :func:`data_error_message` recovers the line
    that names the file.
    """


def data_error_message(err: BaseException) -> str:
    """The one-line message of a :class:`DataCheckError`, also when a
    DataLoader worker wrapped it (its message is then a whole traceback
    whose last line is ``...Error: <message>``)."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    last = lines[-1].strip()
    name = type(err).__name__ + ': '
    return last.split(name, 1)[1] if name in last else last


def _leaf_datasets(cfg: ConfigDict) -> Iterator[ConfigDict]:
    """Yield the datasets inside wrappers (Repeat, Concat, ClassBalanced...)."""
    for key in _WRAPPED_KEYS:
        inner = cfg.get(key)
        if isinstance(inner, (list, tuple)):
            for item in inner:
                yield from _leaf_datasets(item)
            return
        if isinstance(inner, dict):
            yield from _leaf_datasets(inner)
            return
    yield cfg


def _join(root: Optional[str], path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def _load_coco_json(ann_file: str) -> dict:
    """Parse an annotation file, raising DataCheckError naming the file."""
    if not osp.isfile(ann_file):
        raise DataCheckError(f'annotation file not found: {ann_file}')
    try:
        with open(ann_file, 'rb') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataCheckError(
            f'annotation file is not valid JSON: {ann_file} ({err})') from None
    if not isinstance(data, dict) or not isinstance(data.get('images'), list):
        raise DataCheckError(
            f'annotation file is not COCO format (no "images" list): '
            f'{ann_file}')
    for key in ('annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise DataCheckError(
                f'annotation file is not COCO format (no "{key}" list): '
                f'{ann_file}')
    return data


def _missing_images(data: dict, img_dir: str) -> List[str]:
    missing = []
    for img in data['images']:
        path = osp.join(img_dir, img.get('file_name', ''))
        if not osp.isfile(path):
            missing.append(path)
    return missing


def _polygon_defect(segm: list, width: float, height: float) -> Optional[str]:
    """Why pycocotools cannot rasterise a polygon segmentation, or None."""
    if not segm:
        return 'empty segmentation'
    if not all(isinstance(part, list) for part in segm):
        return 'polygons are not lists of coordinates'
    if len(segm[0]) == 4:
        # frPyObjects takes a list whose first item has 4 numbers for boxes.
        return 'first polygon has 2 points (pycocotools reads it as a box)'
    if not any(len(part) >= 6 for part in segm):
        return 'no polygon with 3 or more points'
    limit = _MAX_OUTSIDE * max(width, height, 1)
    for part in segm:
        for value in part:
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                return f'coordinate {value!r} is not a finite number'
            if abs(value) > limit:
                return f'coordinate {value!r} is far outside the image'
    return None


def _rle_defect(segm: dict) -> Optional[str]:
    if not isinstance(segm.get('counts'), (list, str)) or len(
            segm.get('size') or ()) != 2:
        return 'RLE without "counts" and "size"'
    return None


def unrasterizable_annotations(data: dict) -> List[Tuple[int, str, str]]:
    """Annotations that pycocotools cannot turn into a mask.

    ``COCOeval`` (``CocoMetric``) and ``LoadAnnotations(poly2mask=True)``
    rasterise every ground-truth segmentation with pycocotools, which raises
    on a leading 2-point polygon or an empty one and runs out of memory on
    NaN/inf or huge coordinates. The polar heads themselves drop such parts
    (``PolygonTensor``), so these only matter where masks are rasterised.

    Args:
        data (dict): A parsed COCO annotation file.

    Returns:
        list[tuple[int, str, str]]: ``(annotation id, image file, reason)``.
    """
    images = {img.get('id'): img for img in data['images']}
    bad = []
    for ann in data['annotations']:
        segm = ann.get('segmentation')
        img = images.get(ann.get('image_id'), {})
        if isinstance(segm, list):
            defect = _polygon_defect(segm, img.get('width', 0),
                                     img.get('height', 0))
        elif isinstance(segm, dict):
            defect = _rle_defect(segm)
        else:
            defect = None if segm is None else 'unknown segmentation type'
        if defect:
            bad.append((ann.get('id'), img.get('file_name', '?'), defect))
    return bad


def _rasterizes_masks(dataset_cfg: ConfigDict) -> bool:
    """Whether the pipeline turns polygons into bitmaps with pycocotools."""
    for transform in dataset_cfg.get('pipeline') or []:
        if 'LoadAnnotations' in str(transform.get('type', '')) and \
                transform.get('with_mask', False) and \
                transform.get('poly2mask', True):
            return True
    return False


def _check_rasterizable(data: dict, ann_file: str, reason: str) -> None:
    bad = unrasterizable_annotations(data)
    if bad:
        listed = '; '.join(f'annotation {ann_id} ({file_name}): {why}'
                           for ann_id, file_name, why in bad[:_MAX_LISTED])
        more = f' and {len(bad) - _MAX_LISTED} more' if len(
            bad) > _MAX_LISTED else ''
        raise DataCheckError(
            f'{len(bad)} segmentation(s) in {ann_file} cannot be rasterised '
            f'({reason}): {listed}{more}. Fix or remove them (the polar '
            'heads alone would drop them, but pycocotools cannot)')


def check_dataset(dataset_cfg: ConfigDict,
                  evaluated: bool = False) -> Tuple[str, int]:
    """Check one (leaf) dataset config.

    Args:
        dataset_cfg (ConfigDict): A dataset config with ``ann_file`` and
            optionally ``data_root`` and ``data_prefix.img``.
        evaluated (bool): The annotations are evaluated with pycocotools
            (``CocoMetric``), so every segmentation must rasterise.

    Returns:
        tuple[str, int]: The annotation file and its number of images.

    Raises:
        DataCheckError: If the data root, the annotation file or an image is
            missing, the annotation file does not parse, or a segmentation
            that will be rasterised (evaluated, or ``poly2mask=True``) cannot
            be.
    """
    data_root = dataset_cfg.get('data_root')
    if data_root and not osp.isdir(data_root):
        raise DataCheckError(
            f'data_root does not exist: {data_root} (set it with '
            f'--cfg-options or link your data there)')
    ann_file = _join(data_root, dataset_cfg.get('ann_file', ''))
    if not dataset_cfg.get('ann_file'):
        return '', 0
    data = _load_coco_json(ann_file)
    prefix = (dataset_cfg.get('data_prefix') or {}).get('img', '')
    img_dir = _join(data_root, prefix)
    missing = _missing_images(data, img_dir)
    if missing:
        listed = ', '.join(missing[:_MAX_LISTED])
        more = f' and {len(missing) - _MAX_LISTED} more' if len(
            missing) > _MAX_LISTED else ''
        raise DataCheckError(
            f'{len(missing)} image(s) listed in {ann_file} are missing: '
            f'{listed}{more}')
    if evaluated:
        _check_rasterizable(data, ann_file, 'COCO evaluation rasterises them')
    elif _rasterizes_masks(dataset_cfg):
        _check_rasterizable(data, ann_file,
                            'LoadAnnotations with poly2mask=True')
    return ann_file, len(data['images'])


def check_datasets(cfg: Config, splits: Tuple[str, ...] = (
        'train_dataloader', 'val_dataloader', 'test_dataloader')) -> None:
    """Check every dataset of the given dataloader configs.

    Args:
        cfg (Config): The full config.
        splits (tuple[str]): Dataloader keys to check; missing keys are skipped.

    Raises:
        DataCheckError: On the first problem found, naming the file.
    """
    if os.environ.get('MMDET_EXT_SKIP_DATA_CHECK'):
        return
    seen = set()
    for split in splits:
        loader = cfg.get(split)
        if not loader or not loader.get('dataset'):
            continue
        evaluated = split != 'train_dataloader' and _coco_evaluated(
            cfg, split)
        for leaf in _leaf_datasets(loader.dataset):
            key = (leaf.get('data_root'), leaf.get('ann_file'), evaluated)
            if key in seen:
                continue
            seen.add(key)
            check_dataset(leaf, evaluated=evaluated)


def _coco_evaluated(cfg: Config, split: str) -> bool:
    """Whether the split's evaluator is a ``CocoMetric`` rasterising the
    ground-truth masks (``segm``; ``format_only`` does not)."""
    evaluator = cfg.get(split.replace('_dataloader', '_evaluator'))
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [
        evaluator
    ]
    for metric in metrics:
        if not isinstance(metric, dict) or 'Coco' not in str(
                metric.get('type', '')) or metric.get('format_only', False):
            continue
        kinds = metric.get('metric', 'bbox')
        if 'segm' in ([kinds] if isinstance(kinds, str) else kinds):
            return True
    return False
