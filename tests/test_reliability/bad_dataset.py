"""Generator of a small COCO-format dataset made of bad inputs.

Every image of the *usable* split exercises one kind of bad input that a
training or test run must survive (see :data:`USABLE_CASES`); the *fatal*
cases (:data:`FATAL_CASES`) are files no loader can use, each written into
its own annotation file so that a run on it must stop with a message naming
the file. Images are tiny (``IMG_W`` x ``IMG_H``) so a polar model trains on
the whole split in a few seconds.

Categories are non-contiguous ids (e.g. ``[3, 7, 42]``) so that nothing may
assume ``category_id - 1`` is the label, and the class count is any number.

The *invalid file* cases (:data:`INVALID_FILE_CASES`) are annotation files
real exports contain that no loader can use as they are (an entry listed
twice, a category missing from ``categories``, an RLE of another size...):
the pre-flight check must stop on each with one line naming the file.
"""
import copy
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

IMG_W, IMG_H = 96, 80
#: Non-contiguous category ids of the 3-class and the 1-class variants.
THREE_CLASS_IDS = (3, 7, 42)
ONE_CLASS_IDS = (5, )


# ---------------------------------------------------------------- geometry
def _rect(x0: float, y0: float, x1: float, y1: float) -> List[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def _ring(cx: float, cy: float, radius: float, n: int = 12) -> List[float]:
    angles = np.arange(n) * 2 * math.pi / n
    pts = np.stack([cx + radius * np.cos(angles),
                    cy + radius * np.sin(angles)], 1)
    return pts.reshape(-1).round(2).tolist()


def _u_shape() -> List[float]:
    """A thick U whose area centroid lies in its (empty) opening."""
    return [14, 10, 80, 10, 80, 70, 66, 70, 66, 22, 28, 22, 28, 70, 14, 70]


def _bbox(parts: Sequence[Sequence[float]]) -> List[float]:
    coords = np.concatenate([np.asarray(p, dtype=float) for p in parts])
    xy = coords.reshape(-1, 2)
    xy = xy[np.isfinite(xy).all(1)]
    x0, y0 = xy.min(0)
    x1, y1 = xy.max(0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def _poly_area(parts: Sequence[Sequence[float]]) -> float:
    total = 0.
    for part in parts:
        xy = np.asarray(part, dtype=float)
        if xy.size % 2 or not np.isfinite(xy).all() or xy.size < 6:
            continue
        xy = xy.reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
        total += 0.5 * abs(
            float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))
    return total


# ----------------------------------------------------------- annotations
def polygon_ann(parts: Sequence[Sequence[float]],
                area: Optional[float] = None,
                bbox: Optional[List[float]] = None) -> dict:
    """A non-crowd polygon annotation (``category_id`` set later)."""
    area = _poly_area(parts) if area is None else area
    return dict(
        segmentation=[list(p) for p in parts],
        area=max(area, 1.0),
        bbox=bbox or _bbox(parts),
        iscrowd=0)


def rle_ann(mask: np.ndarray, iscrowd: int, compressed: bool = True) -> dict:
    """An RLE annotation of a binary (H, W) mask, compressed (string
    ``counts``) or uncompressed (list ``counts``)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    area = float(mask_utils.area(rle))
    if compressed:
        segm = dict(size=list(rle['size']), counts=rle['counts'].decode())
    else:
        segm = dict(size=[int(mask.shape[0]), int(mask.shape[1])],
                    counts=_uncompressed_counts(mask))
    return dict(segmentation=segm, area=area, bbox=bbox, iscrowd=iscrowd)


def _uncompressed_counts(mask: np.ndarray) -> List[int]:
    """Column-major run lengths starting with a run of zeros (COCO)."""
    flat = mask.astype(np.uint8).reshape(-1, order='F')
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            counts.append(run)
            value, run = pixel, 1
    counts.append(run)
    return counts


def _disk_mask(cx: int, cy: int, radius: int) -> np.ndarray:
    mask = np.zeros((IMG_H, IMG_W), np.uint8)
    cv2.circle(mask, (cx, cy), radius, 1, -1)
    return mask


# ---------------------------------------------------------------- cases
def _case_no_annotations():
    return []


def _case_crowd_only():
    return [rle_ann(_disk_mask(30, 40, 14), iscrowd=1),
            rle_ann(_disk_mask(70, 30, 9), iscrowd=1, compressed=False)]


def _case_rle_objects():
    return [rle_ann(_disk_mask(28, 40, 16), iscrowd=0),
            rle_ann(_disk_mask(70, 36, 12), iscrowd=0, compressed=False),
            polygon_ann([_rect(40, 60, 60, 76)])]


def _case_degenerate_polygons():
    two_points = [10, 10, 30, 30]
    collinear = [10, 10, 20, 20, 30, 30, 40, 40]
    odd = [50, 10, 70, 10, 70, 30, 50]
    return [
        polygon_ann([two_points], area=20, bbox=[10, 10, 20, 20]),
        polygon_ann([collinear], area=20, bbox=[10, 10, 30, 30]),
        polygon_ann([odd], area=20, bbox=[50, 10, 20, 20]),
        # one usable part beside a degenerate one
        polygon_ann([_rect(40, 40, 70, 70), two_points]),
    ]


def _case_self_intersecting():
    bow_tie = [10, 10, 50, 50, 50, 10, 10, 50]
    figure_eight = [60, 20, 90, 70, 90, 20, 60, 70, 75, 45]
    return [polygon_ann([bow_tie], area=800), polygon_ann([figure_eight])]


def _case_nan_polygon():
    nan_part = [10, 10, float('nan'), 10, 40, 40, 10, 40]
    return [
        polygon_ann([nan_part], area=400, bbox=[10, 10, 30, 30]),
        polygon_ann([_rect(50, 20, 80, 60), nan_part],
                    bbox=[10, 10, 70, 50]),
        polygon_ann([[10, 50, float('inf'), 50, 30, 70]],
                    area=200, bbox=[10, 50, 20, 20]),
    ]


def _case_tiny_objects():
    return [polygon_ann([_rect(20, 20, 23, 23)]),
            polygon_ann([_rect(60, 50, 61.5, 52)]),
            polygon_ann([_rect(40, 30, 80, 70)])]


def _case_larger_than_image():
    return [polygon_ann([_rect(-40, -30, IMG_W + 50, IMG_H + 40)]),
            polygon_ann([_ring(IMG_W / 2, IMG_H / 2, 120, 16)])]


def _case_multi_part():
    return [polygon_ann([_rect(5, 5, 30, 30), _rect(60, 40, 90, 75),
                         _ring(45, 60, 6, 8)])]


def _case_centroid_outside():
    ring_outer = _ring(48, 40, 36, 24)
    return [polygon_ann([_u_shape()]), polygon_ann([ring_outer[:26]])]


def _case_no_segmentation():
    """Box-only objects of exported datasets: ``[]``, ``null`` and no
    ``segmentation`` key, beside a normal object."""
    empty = polygon_ann([_rect(10, 10, 40, 40)])
    empty['segmentation'] = []
    null = polygon_ann([_rect(50, 10, 80, 40)])
    null['segmentation'] = None
    missing = polygon_ann([_rect(10, 45, 40, 75)])
    del missing['segmentation']
    return [empty, null, missing, polygon_ann([_rect(50, 45, 85, 75)])]


def _case_uncompressed_rle():
    """Non-crowd objects as uncompressed RLE (list ``counts``)."""
    return [rle_ann(_disk_mask(30, 40, 15), iscrowd=0, compressed=False),
            rle_ann(_disk_mask(72, 30, 10), iscrowd=0, compressed=False)]


#: name -> (annotation factory, image colour flag, file suffix)
USABLE_CASES: Dict[str, tuple] = {
    'no_annotations': (_case_no_annotations, 'color', '.png'),
    'crowd_only': (_case_crowd_only, 'color', '.png'),
    'rle_objects': (_case_rle_objects, 'color', '.png'),
    'degenerate_polygons': (_case_degenerate_polygons, 'color', '.png'),
    'self_intersecting': (_case_self_intersecting, 'color', '.png'),
    'nan_polygon': (_case_nan_polygon, 'color', '.png'),
    'tiny_objects': (_case_tiny_objects, 'color', '.png'),
    'larger_than_image': (_case_larger_than_image, 'color', '.png'),
    'multi_part': (_case_multi_part, 'color', '.png'),
    'centroid_outside': (_case_centroid_outside, 'color', '.png'),
    'grayscale': (_case_tiny_objects, 'gray', '.png'),
    'four_channel': (_case_multi_part, 'bgra', '.png'),
    'jpeg': (_case_multi_part, 'color', '.jpg'),
    'no_segmentation': (_case_no_segmentation, 'color', '.png'),
    'uncompressed_rle': (_case_uncompressed_rle, 'color', '.png'),
    # EXIF orientation 6 (rotate 90 degrees to show): annotated as shown
    # (LabelMe, CVAT...; the file gives the shown size) ...
    'exif_rotated': (_case_tiny_objects, 'exif_shown', '.jpg'),
    # ... and annotated on the stored pixels (COCO-style files).
    'exif_rotated_stored': (_case_tiny_objects, 'exif_stored', '.jpg'),
}
#: Usable for training (the polar heads drop the bad parts, objects without
#: a segmentation are ignored) but not for COCO evaluation: pycocotools
#: cannot rasterise their ground truth.
EVAL_BREAKING = ('degenerate_polygons', 'nan_polygon', 'no_segmentation')
#: The EXIF orientation of the ``exif_*`` cases: the stored pixels are
#: rotated 90 degrees counter-clockwise from the shown image.
EXIF_ORIENTATION = 6
#: Files no loader can use: each goes into ``instances_<name>.json`` with one
#: good image, and a run on it must stop naming the file.
FATAL_CASES = ('truncated_jpeg', 'missing_image', 'not_an_image')


# --------------------------------------------------------------- images
def _paint(anns: List[dict], rng: np.random.Generator) -> np.ndarray:
    """BGR image with every usable annotation painted in a bright colour."""
    img = rng.integers(0, 60, (IMG_H, IMG_W, 3), dtype=np.uint8)
    for ann in anns:
        colour = tuple(int(v) for v in rng.integers(120, 255, 3))
        segm = ann.get('segmentation') or []
        if isinstance(segm, dict):
            rle = segm if isinstance(segm['counts'], str) else \
                mask_utils.frPyObjects(segm, *segm['size'])
            if isinstance(rle['counts'], str):
                rle = dict(size=rle['size'], counts=rle['counts'].encode())
            img[mask_utils.decode(rle).astype(bool)] = colour
            continue
        for part in segm:
            xy = np.asarray(part, dtype=float)
            if xy.size % 2 or xy.size < 6 or not np.isfinite(xy).all():
                continue
            cv2.fillPoly(img, [xy.reshape(-1, 2).round().astype(np.int32)],
                         colour)
    return img


def _write_exif_jpeg(path: Path, img: np.ndarray, shown: bool) -> None:
    """A JPEG with EXIF orientation :data:`EXIF_ORIENTATION`: ``img`` is
    what viewers show (``shown``) or the stored pixels."""
    if shown:
        img = cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    exif = Image.Exif()
    exif[0x0112] = EXIF_ORIENTATION
    Image.fromarray(img[..., ::-1]).save(
        path, 'JPEG', quality=95, exif=exif.tobytes())


def _write_image(path: Path, img: np.ndarray, flag: str) -> None:
    if flag.startswith('exif'):
        _write_exif_jpeg(path, img, shown=flag == 'exif_shown')
        return
    if flag == 'gray':
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif flag == 'bgra':
        alpha = np.full(img.shape[:2] + (1, ), 200, np.uint8)
        img = np.concatenate([img, alpha], axis=2)
    assert cv2.imwrite(str(path), img), path


def _write_fatal(path: Path, case: str, img: np.ndarray) -> None:
    if case == 'truncated_jpeg':
        ok, buf = cv2.imencode('.jpg', img)
        assert ok
        path.write_bytes(buf.tobytes()[:len(buf) // 2])
    elif case == 'not_an_image':
        path.write_bytes(b'this is not an image\n' * 10)
    # 'missing_image': listed in the json, never written


# ----------------------------------------------------- invalid files
def _unknown_category(coco: dict) -> None:
    coco['annotations'][0]['category_id'] = 999


def _image_listed_twice(coco: dict) -> None:
    coco['images'].append(dict(coco['images'][0], id=2))


def _image_id_twice(coco: dict) -> None:
    coco['images'].append(dict(coco['images'][0], file_name=COPY_IMAGE))


def _annotation_id_twice(coco: dict) -> None:
    coco['annotations'].append(dict(coco['annotations'][0]))


def _rle_size_swapped(coco: dict) -> None:
    ann = rle_ann(_disk_mask(40, 40, 12), iscrowd=0, compressed=False)
    ann['segmentation']['size'] = [IMG_W, IMG_H]
    coco['annotations'].append(_attach(ann, coco))


def _rle_counts_short(coco: dict) -> None:
    ann = rle_ann(_disk_mask(40, 40, 12), iscrowd=1, compressed=False)
    ann['segmentation']['counts'] = ann['segmentation']['counts'][:-1]
    coco['annotations'].append(_attach(ann, coco))


def _attach(ann: dict, coco: dict) -> dict:
    """``ann`` as a new annotation of the first image."""
    first = coco['annotations'][0]
    return dict(ann, id=max(a['id'] for a in coco['annotations']) + 1,
                image_id=first['image_id'], category_id=first['category_id'])


#: name -> (edit of the one-good-image file, words the error must contain)
INVALID_FILE_CASES: Dict[str, tuple] = {
    'unknown_category': (_unknown_category,
                         'category_id missing from "categories" (999)'),
    'image_listed_twice': (_image_listed_twice,
                           'image multi_part.png listed 2 times'),
    'image_id_twice': (_image_id_twice, 'image id 1 listed 2 times'),
    'annotation_id_twice': (_annotation_id_twice,
                            'annotation id 1 used 2 times'),
    'rle_size_swapped': (_rle_size_swapped,
                         f"RLE size [{IMG_W}, {IMG_H}] is not the image's"),
    'rle_counts_short': (_rle_counts_short,
                         'RLE counts add up to'),
}
#: A copy of the good image, for a second entry that must not be a missing
#: file.
COPY_IMAGE = 'multi_part_copy.png'


def _write_invalid_files(out_dir: Path, good: dict, good_anns: List[dict],
                         cat_ids: Sequence[int]) -> Dict[str, Path]:
    """One ``instances_<case>.json`` per :data:`INVALID_FILE_CASES`."""
    images = out_dir / 'images'
    (images / COPY_IMAGE).write_bytes(
        (images / good['file_name']).read_bytes())
    files = {}
    for case, (edit, _) in INVALID_FILE_CASES.items():
        coco = _coco([dict(good, id=1)], copy.deepcopy(good_anns), cat_ids)
        for i, ann in enumerate(coco['annotations'], start=1):
            ann['id'] = i
        edit(coco)
        files[case] = out_dir / 'annotations' / f'instances_{case}.json'
        _dump(files[case], coco)
    return files


# ------------------------------------------------------------- datasets
def _coco(images: List[dict], anns: List[dict],
          cat_ids: Sequence[int]) -> dict:
    return dict(
        images=images,
        annotations=anns,
        categories=[dict(id=c, name=f'class_{c}') for c in cat_ids])


def _dump(path: Path, content: dict) -> None:
    # allow_nan: NaN polygons are written as the JSON token NaN, which
    # Python's json (and thus pycocotools and mmengine) reads back.
    path.write_text(json.dumps(content, allow_nan=True))


def class_names(cat_ids: Sequence[int]) -> tuple:
    return tuple(f'class_{c}' for c in cat_ids)


def make_bad_dataset(out_dir: Path,
                     cat_ids: Sequence[int] = (3, 7, 42),
                     cases: Optional[Sequence[str]] = None,
                     seed: int = 0) -> Dict[str, Path]:
    """Write the bad-input dataset.

    Layout::

        out_dir/images/<case>.png|jpg
        out_dir/annotations/instances_usable.json   # every usable case
        out_dir/annotations/instances_evaluable.json  # without EVAL_BREAKING
        out_dir/annotations/instances_<fatal>.json  # one good + one fatal
        out_dir/annotations/instances_<invalid>.json  # one good, edited

    Args:
        out_dir (Path): Output folder.
        cat_ids (Sequence[int]): Category ids (any, non-contiguous); the
            annotations of a case cycle through them.
        cases (Sequence[str], optional): Usable cases to write; all of
            :data:`USABLE_CASES` by default.
        seed (int): Seed of the image noise and colours.

    Returns:
        dict[str, Path]: ``'usable'``, ``'evaluable'``, each fatal and
        each invalid file case name -> its annotation file; ``'root'`` ->
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    (out_dir / 'images').mkdir(parents=True, exist_ok=True)
    (out_dir / 'annotations').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for img_id, name in enumerate(cases or USABLE_CASES, start=1):
        factory, flag, suffix = USABLE_CASES[name]
        img_anns = factory()
        file_name = name + suffix
        _write_image(out_dir / 'images' / file_name, _paint(img_anns, rng),
                     flag)
        images.append(
            dict(id=img_id, file_name=file_name, width=IMG_W, height=IMG_H))
        for ann in img_anns:
            ann.update(id=len(anns) + 1, image_id=img_id,
                       category_id=cat_ids[len(anns) % len(cat_ids)])
            anns.append(ann)
    files = dict(root=out_dir, usable=out_dir / 'annotations' /
                 'instances_usable.json')
    _dump(files['usable'], _coco(images, anns, cat_ids))
    files['evaluable'] = out_dir / 'annotations' / 'instances_evaluable.json'
    keep = [img for img in images
            if Path(img['file_name']).stem not in EVAL_BREAKING]
    keep_ids = {img['id'] for img in keep}
    _dump(files['evaluable'],
          _coco(keep, [a for a in anns if a['image_id'] in keep_ids],
                cat_ids))
    good = next(img for img in images if img['file_name'] == 'multi_part.png'
                ) if 'multi_part' in (cases or USABLE_CASES) else images[0]
    good_anns = [dict(a, image_id=1) for a in anns
                 if a['image_id'] == good['id']]
    for case in FATAL_CASES:
        file_name = case + ('.jpg' if case == 'truncated_jpeg' else '.png')
        _write_fatal(out_dir / 'images' / file_name, case,
                     _paint([], rng))
        fatal_img = dict(id=2, file_name=file_name, width=IMG_W,
                         height=IMG_H)
        fatal_ann = polygon_ann([_rect(20, 20, 60, 60)])
        fatal_ann.update(id=len(good_anns) + 1, image_id=2,
                         category_id=cat_ids[0])
        files[case] = out_dir / 'annotations' / f'instances_{case}.json'
        _dump(files[case],
              _coco([dict(good, id=1), fatal_img],
                    good_anns + [fatal_ann], cat_ids))
    if good['file_name'] == 'multi_part.png':
        files.update(_write_invalid_files(out_dir, good, good_anns, cat_ids))
    return files



