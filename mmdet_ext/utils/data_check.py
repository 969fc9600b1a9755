"""Pre-flight checks of the datasets a config refers to.

Without them a wrong ``data_root``, a missing image or a corrupt annotation file surfaces as
a traceback from deep inside a DataLoader worker or pycocotools. The tools run
:func:`check_datasets` before building the runner so that such problems stop the run with
one message that names the file.
"""
import json
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.config import Config, ConfigDict

#: Dataset wrappers whose real datasets sit under these keys.
_WRAPPED_KEYS = ('dataset', 'datasets')
#: How many missing images are listed in the error message.
_MAX_LISTED = 5


class DataCheckError(RuntimeError):
    """A dataset referred to by the config is missing or unreadable."""


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


def check_dataset(dataset_cfg: ConfigDict) -> Tuple[str, int]:
    """Check one (leaf) dataset config.

    Args:
        dataset_cfg (ConfigDict): A dataset config with ``ann_file`` and
            optionally ``data_root`` and ``data_prefix.img``.

    Returns:
        tuple[str, int]: The annotation file and its number of images.

    Raises:
        DataCheckError: If the data root, the annotation file or an image is
            missing, or the annotation file does not parse.
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
        for leaf in _leaf_datasets(loader.dataset):
            key = (leaf.get('data_root'), leaf.get('ann_file'))
            if key in seen:
                continue
            seen.add(key)
            check_dataset(leaf)
