"""Pre-flight checks of the datasets a config refers to.

Without them a wrong ``data_root``, a missing image or a corrupt annotation file surfaces as
a traceback from deep inside a DataLoader worker or pycocotools. The tools run
:func:`check_datasets` before building the runner so that such problems stop the run with
one message that names the file.

Besides missing files, an annotation file is refused when (README "Train on your own
data" lists the rules):

* an image ``id`` or ``file_name`` is listed twice (pycocotools keeps one entry per id, and
  a file listed under two ids has its objects split between them, the others trained as
  background), or an annotation ``id`` is used twice (``CocoDataset`` asserts);
* an annotation's ``category_id`` is not in ``categories`` (``CocoDataset`` would drop
  the object silently: trained as background);
* an RLE ``segmentation`` has another ``size`` than its image, or run lengths that are
  negative or do not add up to ``height * width`` (pycocotools raises, or decodes
  uninitialised memory);
* an object has no segmentation (key missing, ``null``, ``[]``) and MMDetection's own
  ``LoadAnnotations`` loads masks (``KeyError: 'mask'``; the project's
  ``LoadPolygonAnnotations`` ignores such objects instead);
* for an evaluated split: a segmentation pycocotools cannot rasterise, or an image whose
  decoded size (after its EXIF orientation, as the split's loader applies it) is not the
  ``width`` x ``height`` of the file.
"""
import json
import math
import os
import os.path as osp
from collections import Counter
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict
from PIL import Image

#: Dataset wrappers whose real datasets sit under these keys.
_WRAPPED_KEYS = ('dataset', 'datasets')
#: How many missing images are listed in the error message.
_MAX_LISTED = 5
#: Polygon coordinates further than this many image sizes outside the image
#: make pycocotools allocate memory in proportion to the coordinate.
_MAX_OUTSIDE = 16
#: EXIF tag of the orientation; values 5 to 8 swap width and height.
_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


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
            defect = 'no segmentation' if segm is None else \
                'unknown segmentation type'
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


def _listing(items: Sequence[str]) -> str:
    """``'a; b; c and 4 more'``: the first :data:`_MAX_LISTED` items."""
    listed = '; '.join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return listed + (f' and {more} more' if more > 0 else '')


# --------------------------------------------------- structure of the file
def duplicate_entries(data: dict) -> List[str]:
    """Images listed twice (same ``id`` or same ``file_name``) and
    annotation ids used twice.

    Args:
        data (dict): A parsed COCO annotation file.

    Returns:
        list[str]: One description per repeated id or file name.
    """
    found = []
    image_ids = Counter(img.get('id') for img in data['images'])
    found += [f'image id {i!r} listed {n} times'
              for i, n in image_ids.items() if n > 1]
    files = Counter(img.get('file_name') for img in data['images'])
    found += [f'image {name} listed {n} times'
              for name, n in files.items() if n > 1]
    ann_ids = Counter(ann.get('id') for ann in data['annotations'])
    found += [f'annotation id {i!r} used {n} times'
              for i, n in ann_ids.items() if n > 1]
    return found


def unknown_categories(data: dict) -> List[Tuple[int, int]]:
    """Annotations whose ``category_id`` is not in ``categories``.

    Args:
        data (dict): A parsed COCO annotation file.

    Returns:
        list[tuple[int, int]]: ``(annotation id, category id)`` pairs.
    """
    known = {cat.get('id') for cat in data['categories']
             if isinstance(cat, dict)}
    return [(ann.get('id'), ann.get('category_id'))
            for ann in data['annotations']
            if ann.get('category_id') not in known]


# ------------------------------------------------------------------- RLEs
def compressed_rle_counts(counts: str) -> List[int]:
    """Run lengths of a compressed COCO RLE string (pycocotools'
    ``rleFrString`` in Python: 5-bit groups, deltas after the second run).

    Raises:
        ValueError: On a character outside the alphabet or a cut value.
    """
    values, pos = [], 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(counts):
                raise ValueError('RLE string ends inside a value')
            code = ord(counts[pos]) - 48
            if not 0 <= code < 64:
                raise ValueError(f'character {counts[pos]!r} is not RLE')
            value |= (code & 0x1f) << shift
            more = bool(code & 0x20)
            pos, shift = pos + 1, shift + 5
            if not more and code & 0x10:
                value |= -1 << shift  # negative delta
        if len(values) > 2:
            value += values[-2]
        values.append(value)
    return values


def rle_defect(segm: dict, height: int, width: int) -> Optional[str]:
    """Why an RLE segmentation does not describe a mask of its image, or
    None.

    pycocotools trusts ``size`` and the run lengths: runs that do not add up
    to ``height * width`` make it raise or decode uninitialised memory, and
    another ``size`` gives a mask of another shape than the image (a common
    export bug writes ``[width, height]``).

    Args:
        segm (dict): ``size`` and ``counts`` (a compressed string or an
            uncompressed list of run lengths).
        height (int): Image height from the annotation file (0: unknown).
        width (int): Image width (0: unknown).

    Returns:
        str | None: The defect.
    """
    size, counts = segm.get('size'), segm.get('counts')
    if not isinstance(size, (list, tuple)) or len(size) != 2 or \
            not isinstance(counts, (list, str)):
        return 'RLE without "counts" and "size"'
    if height and width and list(size) != [height, width]:
        return (f'RLE size {list(size)} is not the image\'s [height, width] '
                f'[{height}, {width}]')
    if isinstance(counts, str):
        try:
            counts = compressed_rle_counts(counts)
        except ValueError as err:
            return f'RLE counts do not decode ({err})'
    if not all(isinstance(c, int) and c >= 0 for c in counts):
        return 'RLE counts are not non-negative integers'
    total, expected = sum(counts), size[0] * size[1]
    if total != expected:
        return (f'RLE counts add up to {total} pixels, not {size[0]} x '
                f'{size[1]} = {expected}')
    return None


def _has_segmentation(ann: dict) -> bool:
    """Whether ``CocoDataset`` gives the object a mask (a truthy
    ``segmentation``)."""
    return bool(ann.get('segmentation'))


def unloadable_annotations(data: dict,
                           needs_segmentation: bool = False
                           ) -> List[Tuple[int, str, str]]:
    """Annotations a training loader would crash on.

    Args:
        data (dict): A parsed COCO annotation file.
        needs_segmentation (bool): MMDetection's ``LoadAnnotations`` loads
            the masks: an object without segmentation raises
            ``KeyError: 'mask'`` there.

    Returns:
        list[tuple[int, str, str]]: ``(annotation id, image file, reason)``.
    """
    images = {img.get('id'): img for img in data['images']}
    bad = []
    for ann in data['annotations']:
        img = images.get(ann.get('image_id'), {})
        segm = ann.get('segmentation')
        defect = None
        if isinstance(segm, dict) and segm:
            defect = rle_defect(segm, img.get('height', 0),
                                img.get('width', 0))
        elif needs_segmentation and not _has_segmentation(ann):
            defect = ('no segmentation: MMDetection\'s LoadAnnotations '
                      'cannot load it (LoadPolygonAnnotations ignores the '
                      'object)')
        if defect:
            bad.append((ann.get('id'), img.get('file_name', '?'), defect))
    return bad


def _check_structure(data: dict, ann_file: str) -> None:
    repeated = duplicate_entries(data)
    if repeated:
        raise DataCheckError(
            f'{ann_file} lists entries twice: {_listing(repeated)}. Give '
            'every image one entry (all its objects point to its id) and '
            'every annotation its own id')
    unknown = unknown_categories(data)
    if unknown:
        ids = sorted({str(cat) for _, cat in unknown})
        listed = [f'annotation {ann_id} (category_id {cat!r})'
                  for ann_id, cat in unknown]
        raise DataCheckError(
            f'{len(unknown)} annotation(s) in {ann_file} have a category_id '
            f'missing from "categories" ({", ".join(ids[:_MAX_LISTED])}): '
            f'{_listing(listed)}. Add the categories or remove the '
            'annotations (they would be dropped: trained as background)')


def _check_loadable(data: dict, ann_file: str,
                    needs_segmentation: bool) -> None:
    bad = unloadable_annotations(data, needs_segmentation)
    if bad:
        listed = [f'annotation {ann_id} ({file_name}): {why}'
                  for ann_id, file_name, why in bad]
        raise DataCheckError(
            f'{len(bad)} segmentation(s) in {ann_file} cannot be loaded: '
            f'{_listing(listed)}. Fix or remove them')


def _loads_masks_with_mmdet(dataset_cfg: ConfigDict) -> bool:
    """Whether MMDetection's own ``LoadAnnotations`` loads the masks."""
    for transform in dataset_cfg.get('pipeline') or []:
        name = str(transform.get('type', '')).split('.')[-1]
        if name == 'LoadAnnotations' and transform.get('with_mask', False):
            return True
    return False


# ------------------------------------------------------------ image sizes
def stored_size(path: str) -> Optional[Tuple[int, int, int]]:
    """``(width, height, EXIF orientation)`` of an image file from its
    header (Pillow reads no pixel), or None if Pillow cannot open it."""
    try:
        with Image.open(path) as img:
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
            return img.size[0], img.size[1], orientation
    except (OSError, SyntaxError, ValueError):
        return None


def _image_loader(dataset_cfg: ConfigDict) -> Tuple[str, str]:
    """``(type name, color_type)`` of the pipeline's image loader."""
    for transform in dataset_cfg.get('pipeline') or []:
        name = str(transform.get('type', '')).split('.')[-1]
        if name.endswith('LoadImageFromFile'):
            return name, transform.get('color_type', 'color')
    return '', 'color'


def image_size_mismatches(data: dict, img_dir: str,
                          dataset_cfg: ConfigDict) -> List[str]:
    """Images whose size as the split's loader decodes them is not the
    ``width`` x ``height`` of the annotation file.

    OpenCV (MMDetection's ``LoadImageFromFile``) and Pillow apply the EXIF
    orientation, which swaps width and height for orientations 5 to 8.
    ``CheckedLoadImageFromFile`` follows the annotation file: when only the
    stored pixels have its size (annotated before the rotation, as in
    COCO), it uses them. COCO evaluation needs predictions of the size of
    the file's images (pycocotools raises otherwise).

    Args:
        data (dict): A parsed COCO annotation file.
        img_dir (str): Image folder.
        dataset_cfg (ConfigDict): The dataset (its pipeline's loader).

    Returns:
        list[str]: One description per mismatching image.
    """
    loader, color_type = _image_loader(dataset_cfg)
    ignores_orientation = color_type.endswith('ignore_orientation')
    follows_file = loader == 'CheckedLoadImageFromFile'
    found = []
    for img in data['images']:
        expected = (img.get('width'), img.get('height'))
        size = stored_size(osp.join(img_dir, img.get('file_name', '')))
        if size is None or None in expected:
            continue
        width, height, orientation = size
        shown = (height, width) if orientation in \
            _TRANSPOSING_ORIENTATIONS else (width, height)
        decoded = (width, height) if ignores_orientation else shown
        if decoded == expected or (follows_file and
                                   (width, height) == expected):
            continue
        reason = f'{img.get("file_name")} decodes to {decoded[0]}x' \
            f'{decoded[1]}'
        if orientation != 1 and (width, height) == expected:
            reason += (f' (EXIF orientation {orientation}; the file gives '
                       'the stored size: load with CheckedLoadImageFromFile'
                       ', which follows the file)')
        else:
            reason += f', the file says {expected[0]}x{expected[1]}'
        found.append(reason)
    return found


def _check_image_sizes(data: dict, img_dir: str, ann_file: str,
                       dataset_cfg: ConfigDict) -> None:
    bad = image_size_mismatches(data, img_dir, dataset_cfg)
    if bad:
        raise DataCheckError(
            f'{len(bad)} image(s) of {ann_file} do not have the size the '
            f'file gives (COCO evaluation needs it): {_listing(bad)}')


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
            missing, the annotation file does not parse, lists an entry
            twice, refers to a category it does not define or has an
            unloadable segmentation (see the module docstring), or a
            segmentation that will be rasterised (evaluated, or
            ``poly2mask=True``) cannot be, or an evaluated image does not
            have the size the file gives.
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
    _check_structure(data, ann_file)
    _check_loadable(data, ann_file, _loads_masks_with_mmdet(dataset_cfg))
    if evaluated:
        _check_rasterizable(data, ann_file, 'COCO evaluation rasterises them')
        _check_image_sizes(data, img_dir, ann_file, dataset_cfg)
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
