"""Classes of a COCO-format dataset taken from its annotation file, and the
model's ``num_classes`` set from them (README "Train on your own data").

A config whose datasets are ``CocoFormatDataset`` names no class: the
dataset reads the names from the ``categories`` of its annotation file, and
:func:`sync_classes`, called by ``tools/train.py``, ``tools/test.py`` and
``demo/image_demo.py`` before the model is built, writes them into every
such dataset config and sets every ``num_classes`` of the model to their
number (``bbox_head`` of the polar heads, ``mask_head`` of SOLOv2,
``roi_head.bbox_head`` and ``roi_head.mask_head`` of Mask R-CNN; the RPN
stays class-agnostic). Scripts that build a ``Runner`` themselves call it
the same way::

    cfg = Config.fromfile('configs/own_data/polarnext_r18_fpn_own-data-cpu.py')
    sync_classes(cfg)
    Runner.from_cfg(cfg).train()
"""
import json
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict

from .data_check import DataCheckError, _leaf_datasets

#: Dataset type whose classes come from its annotation file.
COCO_FORMAT_DATASET = 'CocoFormatDataset'
#: Heads whose ``num_classes`` is not the dataset's: the RPN's boxes are
#: class-agnostic.
CLASS_AGNOSTIC_HEADS = ('rpn_head', )
_DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def read_class_names(ann_file: str) -> Tuple[str, ...]:
    """Category names of a COCO annotation file, in the file's order.

    MMDetection's ``CocoDataset`` and ``CocoMetric`` number the labels in
    the order of ``categories`` in the file (pycocotools' ``getCatIds``),
    not by id, so this order is the label order.

    Args:
        ann_file (str): A local COCO annotation file.

    Returns:
        tuple[str]: The class names.

    Raises:
        DataCheckError: If the file is missing or not JSON, or its
            ``categories`` are missing, empty, without ``id``/``name`` or
            with a name used twice (mmdet finds categories by name, so the
            labels would not be one per category).
    """
    if not osp.isfile(ann_file):
        raise DataCheckError(f'annotation file not found: {ann_file}')
    try:
        with open(ann_file, 'rb') as f:
            categories = json.load(f).get('categories')
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise DataCheckError(
            f'annotation file is not a COCO JSON object: {ann_file} ({err})'
        ) from None
    if not isinstance(categories, list) or not categories:
        raise DataCheckError(f'{ann_file} has no "categories": the classes '
                             'of a CocoFormatDataset come from them')
    names = []
    for category in categories:
        if not isinstance(category, dict) or 'id' not in category or \
                not isinstance(category.get('name'), str) or \
                not category['name']:
            raise DataCheckError(f'{ann_file}: category {category!r} needs '
                                 'an "id" and a non-empty "name"')
        names.append(category['name'])
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataCheckError(f'{ann_file}: category name(s) used twice: '
                             f'{", ".join(repeated)} (names must be unique)')
    return tuple(names)


def set_num_classes(node: Any,
                    num_classes: int,
                    prefix: str = '') -> List[str]:
    """Set every ``num_classes`` under ``node`` (recursively, in place),
    except those of :data:`CLASS_AGNOSTIC_HEADS`.

    Args:
        node (Any): A config dict (e.g. ``cfg.model``) or list.
        num_classes (int): The new value.
        prefix (str): Dotted path of ``node``, for the returned paths.

    Returns:
        list[str]: Dotted paths of the keys that were set.
    """
    changed = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}' if prefix else str(key)
            if key == 'num_classes':
                node[key] = num_classes
                changed.append(path)
            elif key not in CLASS_AGNOSTIC_HEADS:
                changed += set_num_classes(value, num_classes, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += set_num_classes(value, num_classes, f'{prefix}[{i}]')
    return changed


def is_coco_format_dataset(dataset_cfg: Any) -> bool:
    """Whether a dataset config is a :data:`COCO_FORMAT_DATASET` (also
    written with a scope, ``'mmdet.CocoFormatDataset'``)."""
    dataset_type = dataset_cfg.get('type') if isinstance(dataset_cfg,
                                                         dict) else None
    name = dataset_type if isinstance(dataset_type, str) else getattr(
        dataset_type, '__name__', '')
    return name.split('.')[-1] == COCO_FORMAT_DATASET


def coco_format_datasets(cfg: Config,
                         splits: Sequence[str] = _DATALOADERS
                         ) -> List[ConfigDict]:
    """The :data:`COCO_FORMAT_DATASET` configs of the given dataloaders."""
    found = []
    for split in splits:
        loader = cfg.get(split)
        if not loader or not loader.get('dataset'):
            continue
        found += [
            leaf for leaf in _leaf_datasets(loader.dataset)
            if is_coco_format_dataset(leaf)
        ]
    return found


def annotation_path(dataset_cfg: dict) -> str:
    """``ann_file`` joined to ``data_root`` as mmengine's ``BaseDataset``
    joins them."""
    ann_file = dataset_cfg.get('ann_file') or ''
    data_root = dataset_cfg.get('data_root') or ''
    if not data_root or osp.isabs(ann_file):
        return ann_file
    return osp.join(data_root, ann_file)


def dataset_classes(dataset_cfg: dict) -> Optional[Tuple[str, ...]]:
    """The classes of a dataset config: ``metainfo.classes`` if given, else
    the categories of its annotation file; None if that file does not exist
    (the pre-flight check reports it)."""
    classes = (dataset_cfg.get('metainfo') or {}).get('classes')
    if classes:
        return tuple(classes)
    path = annotation_path(dataset_cfg)
    if not osp.isfile(path):
        return None
    return read_class_names(path)


def sync_classes(cfg: Config,
                 splits: Sequence[str] = _DATALOADERS,
                 classes: Optional[Sequence[str]] = None
                 ) -> Optional[Tuple[str, ...]]:
    """Give every ``CocoFormatDataset`` of ``cfg`` its classes and the model
    as many, in place (see the module docstring).

    The classes are those of the first dataset of ``splits`` whose
    annotation file exists (or ``metainfo.classes``, if set), or
    ``classes`` when given (e.g. from a checkpoint). Every other
    ``CocoFormatDataset`` whose file exists must have the same ones: a
    label is an index into them, so a train and a val file with other
    categories (or another order) would not mean the same by a label.

    Args:
        cfg (Config): The full config, edited in place.
        splits (Sequence[str]): Dataloader keys to look at.
        classes (Sequence[str], optional): Use these instead of reading
            the files (the files are not read).

    Returns:
        tuple[str] | None: The classes, or None when ``cfg`` has no
        ``CocoFormatDataset`` or none of their files exists (nothing is
        changed then).

    Raises:
        DataCheckError: If an annotation file has unusable categories or
            two datasets disagree on the classes.
        ValueError: If the model config has no ``num_classes`` to set.
    """
    datasets = coco_format_datasets(cfg, splits)
    if not datasets:
        return None
    if classes is None:
        classes = _agreed_classes(datasets)
        if classes is None:
            return None
    classes = tuple(classes)
    for dataset_cfg in datasets:
        dataset_cfg.metainfo = dict(
            dataset_cfg.get('metainfo') or {}, classes=classes)
    if not set_num_classes(cfg.get('model') or {}, len(classes), 'model'):
        raise ValueError('the model config has no num_classes to set from '
                         'the dataset classes')
    return classes


def _agreed_classes(datasets: Sequence[dict]) -> Optional[Tuple[str, ...]]:
    """The classes all datasets agree on (None if no file can be read)."""
    first, first_path = None, None
    read = {}  # val and test often share a file: read it once
    for dataset_cfg in datasets:
        path = annotation_path(dataset_cfg)
        key = (path, tuple((dataset_cfg.get('metainfo') or {}).get(
            'classes') or ()))
        if key not in read:
            read[key] = dataset_classes(dataset_cfg)
        classes = read[key]
        if classes is None:
            continue
        if first is None:
            first, first_path = classes, path
        elif classes != first:
            raise DataCheckError(
                f'the classes of {path} ({_short(classes)}) differ from '
                f'those of {first_path} ({_short(first)}): give every split '
                'the same categories in the same order')
    return first


def _short(classes: Sequence[str], limit: int = 6) -> str:
    """``'a, b, c ... (12 classes)'``."""
    shown = ', '.join(classes[:limit])
    more = f' ... ({len(classes)} classes)' if len(classes) > limit else ''
    return shown + more
