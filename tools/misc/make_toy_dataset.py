"""Generate the embedded toy instance-segmentation dataset (COCO format).

The toy set is a small, fully synthetic, deterministic stand-in for COCO
that a detector can learn within minutes of CPU training. It mirrors the
layout of ``../shared/data/coco128_seg``::

    OUT_DIR/
        annotations/instances_train.json
        annotations/instances_val.json
        train/train_000001.png ...
        val/val_000001.png ...

``file_name`` is relative to the split folder; image and annotation ids
start at 1 in each split file.

Content of an image: a low-saturation textured background (smooth colour
field, optional grating, noise), a few unannotated grey "sticks" and 1-8
saturated objects. The class is encoded twice, by shape family and by
hue (see :func:`category_hue`), so it is learnable from either cue:

* convex: ``ellipse``, ``polygon`` (regular 3/4/5/6/8-gons);
* concave: ``star``, ``bracket`` (L/C/U shapes), ``cross``, ``crescent``.

Class ``c`` (0-based) uses shape family ``SHAPE_KINDS[c % 6]``; with more
than six classes the families repeat with other hues and the names get a
suffix (``ellipse_2``...). Object sizes span tiny (8-15 px), small,
medium and large (up to 0.95 of the short image side, > 96^2 px area).

Annotation semantics:

* Objects are painted in z-order into an instance-id raster; the raster
  alone decides the image pixels, so every annotation describes exactly
  the VISIBLE region of its object. Occluded objects lose the occluded
  pixels; a grey stick drawn across an object splits it into several
  parts, which gives multi-part annotations (2+ polygons).
* Objects with fewer than ``MIN_VISIBLE_AREA`` visible pixels and object
  fragments (8-connected) below ``MIN_PART_AREA`` pixels or below
  ``MIN_PART_FRACTION`` of the object's largest part are removed from
  the raster (the pixels beneath are shown instead), so no unannotated
  object pixels and no slivers remain.
* Polygons trace the pixel boundary (pixel ``(x, y)`` is the square
  ``[x, x + 1] x [y, y + 1]``, as in pycocotools), so the rasterised
  polygons reproduce the raster exactly, except that only external
  contours are kept: a region enclosed by an object (e.g. a small object
  lying on a large one) counts as part of the enclosing object, as in
  COCO's polygon annotations. Pixel-exact polygons are staircases on
  slanted edges (about 130 vertices per annotation on average).
* ``area`` is the pycocotools area of the merged polygon RLE and ``bbox``
  spans all parts.
* About one image in eight contains a crowd region (a cluster of tiny
  blobs of one class, drawn first) annotated as one ``iscrowd=1``
  annotation whose segmentation is the compressed RLE of its visible
  pixels (``pycocotools.mask.encode``, ``counts`` as a utf-8 string), so
  crowd handling (ignored ground truth) gets exercised.
* About 8% of the images (and always one of the first three of a split)
  contain no object and have no annotations, but are listed in
  ``images``.

Determinism: every image draws from its own ``numpy`` generator seeded by
``(seed, split, index)``, so the same seed gives byte-identical JSON and
identical PNG files (lossless, fixed compression level) with the same
OpenCV build. Image ``i`` does not depend on the number of images, so a
smaller set has the same first images as a larger one.

Example::

    python tools/misc/make_toy_dataset.py data/toy --seed 0
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from mmdet_ext.geometry.hard_rasterizer import polygons_to_rle  # noqa: E402
from mmdet_ext.structures.mask_tracing import \
    mask_to_polygons as trace_mask_polygons  # noqa: E402

SHAPE_KINDS = ('ellipse', 'star', 'bracket', 'polygon', 'cross', 'crescent')
CONVEX_KINDS = ('ellipse', 'polygon')
SPLITS = ('train', 'val')
MIN_VISIBLE_AREA = 16  # px; smaller visible remains are dropped
MIN_PART_AREA = 6  # px; smaller fragments of an object are dropped
MIN_PART_FRACTION = 0.05  # of the largest part; smaller slivers dropped
EMPTY_FRACTION = 0.08
CROWD_PROB = 0.12
OCCLUDER_PROB = 0.2
MAX_OBJECTS = 8
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
# (name, probability) of the object size regimes, see _sample_size.
_SIZE_REGIMES = (('tiny', 0.18), ('small', 0.28), ('medium', 0.34),
                 ('large', 0.2))


def category_names(num_classes: int) -> list[str]:
    """Names of the toy categories.

    Args:
        num_classes (int): Number of classes, >= 1.

    Returns:
        list[str]: ``num_classes`` unique names, e.g. ``['ellipse',
        'star', 'bracket']``; families repeat with a ``_k`` suffix.
    """
    names = []
    for c in range(num_classes):
        kind = SHAPE_KINDS[c % len(SHAPE_KINDS)]
        rep = c // len(SHAPE_KINDS)
        names.append(kind if rep == 0 else f'{kind}_{rep + 1}')
    return names


def category_hue(cat_index: int, num_classes: int) -> float:
    """OpenCV hue (0-180) of a class; hues are evenly spaced.

    Args:
        cat_index (int): 0-based class index (``category_id - 1``).
        num_classes (int): Number of classes.

    Returns:
        float: Hue in ``[0, 180)``.
    """
    return (15.0 + cat_index * 180.0 / num_classes) % 180.0


def make_categories(num_classes: int) -> list[dict]:
    """COCO ``categories`` entries, ids ``1..num_classes``."""
    cats = []
    for c, name in enumerate(category_names(num_classes)):
        kind = SHAPE_KINDS[c % len(SHAPE_KINDS)]
        supercat = 'convex' if kind in CONVEX_KINDS else 'concave'
        cats.append(dict(id=c + 1, name=name, supercategory=supercat))
    return cats


# --------------------------------------------------------------------------
# Shapes (unit size, centred at the origin; x right, y down)
# --------------------------------------------------------------------------
def _regular_ring(n: int, radius: float, phase: float = 0.) -> np.ndarray:
    t = phase + np.arange(n) * (2 * math.pi / n)
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def _unit_shape(kind: str, rng: np.random.Generator
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Polygons of a shape with diameter about 1.

    Returns:
        tuple: ``(add, sub)`` lists of (N, 2) vertex arrays; the shape is
        the union of ``add`` minus the union of ``sub``.
    """
    if kind == 'ellipse':
        pts = _regular_ring(48, 0.5)
        pts[:, 1] *= rng.uniform(0.55, 1.0)
        return [pts], []
    if kind == 'polygon':
        n = int(rng.choice([3, 4, 5, 6, 8]))
        pts = _regular_ring(n, 0.5)
        pts[:, 1] *= rng.uniform(0.8, 1.0)
        return [pts], []
    if kind == 'star':
        n = int(rng.integers(4, 8))
        outer = _regular_ring(n, 0.5)
        inner = _regular_ring(n, 0.5 * rng.uniform(0.35, 0.55), math.pi / n)
        return [np.stack([outer, inner], axis=1).reshape(-1, 2)], []
    if kind == 'bracket':
        t = rng.uniform(0.28, 0.4)
        if rng.random() < 0.5:  # L
            pts = [(0, 0), (1, 0), (1, t), (t, t), (t, 1), (0, 1)]
        else:  # C (rotated: U, inverted U, ...)
            pts = [(0, 0), (1, 0), (1, t), (t, t), (t, 1 - t), (1, 1 - t),
                   (1, 1), (0, 1)]
        pts = np.asarray(pts, dtype=np.float64) - 0.5
        pts[:, 1] *= rng.uniform(0.7, 1.0)
        return [pts], []
    if kind == 'cross':
        a = rng.uniform(0.28, 0.42) / 2
        pts = np.asarray([(-a, -.5), (a, -.5), (a, -a), (.5, -a), (.5, a),
                          (a, a), (a, .5), (-a, .5), (-a, a), (-.5, a),
                          (-.5, -a), (-a, -a)])
        return [pts], []
    if kind == 'crescent':
        cut = _regular_ring(48, 0.5 * rng.uniform(0.75, 0.95))
        cut[:, 0] += 0.5 * rng.uniform(0.35, 0.6)
        return [_regular_ring(48, 0.5)], [cut]
    raise ValueError(f'unknown shape kind {kind!r}')


def _place(pts: np.ndarray, centre: tuple[float, float], size: float,
           angle: float) -> np.ndarray:
    """Scale by ``size``, rotate by ``angle`` (rad) and move to centre."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.asarray([[c, s], [-s, c]])
    return pts * size @ rot + np.asarray(centre)


def _fill(canvas: np.ndarray, polys: Sequence[np.ndarray],
          value: int) -> None:
    """Fill polygons with 1/16 px vertex precision (in place)."""
    fixed = [np.round(p * 16).astype(np.int32) for p in polys]
    cv2.fillPoly(canvas, fixed, value, lineType=cv2.LINE_8, shift=4)


def shape_mask(kind: str, shape_hw: tuple[int, int],
               centre: tuple[float, float], size: float, angle: float,
               rng: np.random.Generator) -> np.ndarray:
    """Rasterise one random shape of a family.

    Args:
        kind (str): One of ``SHAPE_KINDS``.
        shape_hw (tuple[int, int]): Image ``(H, W)``.
        centre (tuple[float, float]): Centre ``(x, y)`` in pixels.
        size (float): Diameter in pixels.
        angle (float): Rotation in radians.
        rng (np.random.Generator): Source of the shape's random details.

    Returns:
        np.ndarray: (H, W) bool mask (may be empty outside the image).
    """
    add, sub = _unit_shape(kind, rng)
    canvas = np.zeros(shape_hw, dtype=np.uint8)
    _fill(canvas, [_place(p, centre, size, angle) for p in add], 1)
    if sub:
        _fill(canvas, [_place(p, centre, size, angle) for p in sub], 0)
    return canvas.astype(bool)


def _bar_polygon(centre: tuple[float, float], half_len: float,
                 half_width: float, angle: float) -> np.ndarray:
    pts = np.asarray([(-half_len, -half_width), (half_len, -half_width),
                      (half_len, half_width), (-half_len, half_width)])
    return _place(pts, centre, 1.0, angle)


# --------------------------------------------------------------------------
# Masks to COCO segmentation
# --------------------------------------------------------------------------
# Pixel-exact outer polygons of each 8-connected part, collinear vertices
# removed (the project's one tracer, shared with the RLE-to-polygon loader).
mask_to_polygons = partial(trace_mask_polygons, drop_collinear=True)


def _polygon_annotation(mask: np.ndarray) -> dict:
    h, w = mask.shape
    polygons = mask_to_polygons(mask)
    rle, = polygons_to_rle([polygons], h, w)
    xs = np.concatenate([np.asarray(p[0::2]) for p in polygons])
    ys = np.concatenate([np.asarray(p[1::2]) for p in polygons])
    x0, y0 = float(xs.min()), float(ys.min())
    bbox = [x0, y0, float(xs.max()) - x0, float(ys.max()) - y0]
    return dict(
        segmentation=[[round(v, 2) for v in p] for p in polygons],
        area=float(mask_utils.area(rle)),
        bbox=[round(v, 2) for v in bbox],
        iscrowd=0)


def _crowd_annotation(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    bbox = [round(float(v), 2) for v in mask_utils.toBbox(rle)]
    return dict(
        segmentation=dict(size=[int(v) for v in rle['size']],
                          counts=rle['counts'].decode('utf-8')),
        area=float(mask_utils.area(rle)),
        bbox=bbox,
        iscrowd=1)


def annotate_instances(id_map: np.ndarray,
                       instances: list[dict]) -> list[dict]:
    """COCO annotations (without ids) of the instances of an id raster.

    Args:
        id_map (np.ndarray): (H, W) int instance-id raster, 0 = no object.
        instances (list[dict]): Entries with ``id``, ``category_id`` and
            ``iscrowd`` (as returned by :func:`render_sample`).

    Returns:
        list[dict]: One annotation per instance with visible pixels, in
        the order of ``instances``, with ``category_id``, ``segmentation``,
        ``area``, ``bbox`` and ``iscrowd``.
    """
    annotations = []
    for inst in instances:
        mask = id_map == inst['id']
        if not mask.any():
            continue
        if inst['iscrowd']:
            ann = _crowd_annotation(mask)
        else:
            ann = _polygon_annotation(mask)
        annotations.append(dict(category_id=inst['category_id'], **ann))
    return annotations


# --------------------------------------------------------------------------
# Scene rendering
# --------------------------------------------------------------------------
def _sample_size(rng: np.random.Generator, short_side: int) -> float:
    """Object diameter in pixels from one of the size regimes."""
    names = [r[0] for r in _SIZE_REGIMES]
    probs = [r[1] for r in _SIZE_REGIMES]
    regime = names[int(rng.choice(len(names), p=probs))]
    if regime == 'tiny':
        size = rng.uniform(8, 15)
    elif regime == 'small':
        size = rng.uniform(16, 32)
    elif regime == 'medium':
        size = rng.uniform(32, max(33., 0.45 * short_side))
    else:
        size = rng.uniform(0.65, 0.95) * short_side
    return float(min(size, short_side))


def _hsv_to_bgr(h: float, s: float, v: float) -> np.ndarray:
    hsv = np.asarray([[[int(round(h)) % 180, min(255, int(round(s))),
                       min(255, int(round(v)))]]], dtype=np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-saturation textured background, (H, W, 3) float32 BGR.

    Brightness stays >= ~80 and the channel spread small, so background
    saturation stays well below the objects' (>= 170).
    """
    gray = rng.uniform(115, 200)
    tint = rng.uniform(-7, 7, size=3)
    gh, gw = max(2, h // 24), max(2, w // 24)
    lum = cv2.resize(rng.normal(0, 1, (gh, gw)).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    chroma = cv2.resize(rng.normal(0, 1, (gh, gw, 3)).astype(np.float32),
                        (w, h), interpolation=cv2.INTER_CUBIC)
    img = gray + tint + 18 * np.clip(lum, -1.5, 1.5)[..., None]
    img += 3 * np.clip(chroma, -1.5, 1.5)
    if rng.random() < 0.5:  # grating texture
        ang, period = rng.uniform(0, math.pi), rng.uniform(6, 24)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = (xx * math.cos(ang) + yy * math.sin(ang)) / period
        img += rng.uniform(4, 12) * np.sin(
            2 * math.pi * phase + rng.uniform(0, 2 * math.pi))[..., None]
    img += rng.normal(0, rng.uniform(2, 6), (h, w, 1))
    img += rng.normal(0, 1.2, (h, w, 3))
    return img.astype(np.float32)


def _object_spec(rng: np.random.Generator, num_classes: int, w: int, h: int,
                 placed: list[dict], size: float) -> dict:
    """Class, look and pose of one object (not yet drawn)."""
    cat = int(rng.integers(num_classes))
    if placed and rng.random() < 0.4:  # next to an earlier object: overlap
        other = placed[int(rng.integers(len(placed)))]
        direction = rng.uniform(0, 2 * math.pi)
        dist = (other['size'] + size) / 2 * rng.uniform(0.2, 0.8)
        cx = other['centre'][0] + dist * math.cos(direction)
        cy = other['centre'][1] + dist * math.sin(direction)
    elif size > 0.5 * min(w, h):  # keep large objects mostly inside
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    else:  # may be cut by the image border
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    jitter = min(6.0, 45.0 / num_classes)
    hue = (category_hue(cat, num_classes) + rng.uniform(-jitter, jitter))
    return dict(
        cat=cat, size=size, centre=(float(cx), float(cy)),
        angle=float(rng.uniform(0, 2 * math.pi)),
        hsv=(hue % 180, rng.uniform(170, 255), rng.uniform(150, 245)),
        shade=(float(rng.uniform(0, 2 * math.pi)), rng.uniform(-0.25, 0.25)),
        stripes=rng.random() < 0.3)


def _draw_bar(rng: np.random.Generator, id_map: np.ndarray,
              bar_map: np.ndarray, bars: list[np.ndarray],
              centre: tuple[float, float], half_len: float,
              half_width: float, angle: float) -> None:
    """Unannotated grey stick: clears the id raster under it."""
    canvas = np.zeros(id_map.shape, dtype=np.uint8)
    _fill(canvas, [_bar_polygon(centre, half_len, half_width, angle)], 1)
    sel = canvas.astype(bool)
    bars.append(_hsv_to_bgr(rng.uniform(0, 180), rng.uniform(0, 25),
                            rng.uniform(90, 230)))
    bar_map[sel] = len(bars)
    id_map[sel] = 0


def _draw_crowd(rng: np.random.Generator, id_map: np.ndarray,
                num_classes: int, inst_id: int) -> dict:
    """Cluster of tiny blobs of one class, annotated as one crowd."""
    h, w = id_map.shape
    short = min(w, h)
    cat = int(rng.integers(num_classes))
    kind = SHAPE_KINDS[cat % len(SHAPE_KINDS)]
    rw, rh = rng.uniform(0.25, 0.45, size=2) * short
    x0, y0 = rng.uniform(0, w - rw), rng.uniform(0, h - rh)
    for _ in range(int(rng.integers(8, 21))):
        centre = (x0 + rng.uniform(0, rw), y0 + rng.uniform(0, rh))
        blob = shape_mask(kind, (h, w), centre, rng.uniform(5, 9),
                          rng.uniform(0, 2 * math.pi), rng)
        id_map[blob] = inst_id
    hue = category_hue(cat, num_classes)
    return dict(cat=cat, size=float(max(rw, rh)),
                centre=(x0 + rw / 2, y0 + rh / 2), angle=0.,
                hsv=(hue, rng.uniform(170, 255), rng.uniform(150, 245)),
                shade=(0., 0.), stripes=False, iscrowd=1)


def _restore(id_map: np.ndarray, before: np.ndarray, inst_id: int,
             region: np.ndarray | None = None) -> None:
    """Give pixels of ``inst_id`` back to what lay beneath it."""
    sel = id_map == inst_id
    if region is not None:
        sel &= region
    id_map[sel] = before[sel]


def _prune(id_map: np.ndarray, history: list[tuple[int, np.ndarray, bool]]
           ) -> None:
    """Drop tiny fragments and barely visible objects, top object first.

    Going from the top of the z-order down, the pixels given back to a
    lower object are judged when that object's turn comes.
    """
    for inst_id, before, iscrowd in reversed(history):
        mask = (id_map == inst_id).astype(np.uint8)
        if not iscrowd and mask.any():
            _, labels, stats, _ = cv2.connectedComponentsWithStats(
                mask, connectivity=8)
            areas = stats[1:, cv2.CC_STAT_AREA]
            limit = max(MIN_PART_AREA, MIN_PART_FRACTION * areas.max())
            small = np.flatnonzero(areas < limit) + 1
            if len(small):
                _restore(id_map, before, inst_id, np.isin(labels, small))
        if np.count_nonzero(id_map == inst_id) < MIN_VISIBLE_AREA:
            _restore(id_map, before, inst_id)


def _paint_object(rng: np.random.Generator, img: np.ndarray,
                  sel: np.ndarray, spec: dict) -> None:
    """Shaded, optionally striped, noisy colour on the selected pixels."""
    ys, xs = np.nonzero(sel)
    base = _hsv_to_bgr(*spec['hsv'])
    cx, cy = spec['centre']
    direction, gain = spec['shade']
    proj = ((xs - cx) * math.cos(direction) +
            (ys - cy) * math.sin(direction)) / max(spec['size'], 1.)
    shade = 1 + gain * np.clip(proj, -0.5, 0.5)
    if spec['stripes']:
        shade += 0.08 * np.sin(2 * math.pi * proj * 4)
    noise = rng.normal(0, 4, len(xs))
    img[ys, xs] = (base[None] * shade[:, None] + noise[:, None])


def render_sample(rng: np.random.Generator, width: int, height: int,
                  num_classes: int, empty: bool = False,
                  crowd: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Render one toy image with its instance-id raster.

    Args:
        rng (np.random.Generator): Source of all randomness of the image.
        width (int): Image width W.
        height (int): Image height H.
        num_classes (int): Number of classes (>= 1).
        empty (bool): Render background and sticks only.
        crowd (bool): Add a crowd region (drawn first, i.e. lowest).

    Returns:
        tuple: ``image`` (H, W, 3) uint8 BGR; ``id_map`` (H, W) int32 with
        0 = no object and k = pixels of instance k (visible region);
        ``instances``, a list of dicts with ``id``, ``category_id``
        (1-based) and ``iscrowd`` for every instance with visible pixels,
        in drawing order.
    """
    h, w, short = height, width, min(width, height)
    img = _background(rng, h, w)
    id_map = np.zeros((h, w), dtype=np.int32)
    bar_map = np.zeros((h, w), dtype=np.int32)
    bars: list[np.ndarray] = []
    specs: list[dict] = []
    history: list[tuple[int, np.ndarray, bool]] = []
    if crowd and not empty:
        history.append((1, id_map.copy(), True))
        specs.append(_draw_crowd(rng, id_map, num_classes, 1))
    num_obj = 0 if empty else int(rng.integers(1, MAX_OBJECTS + 1))
    sizes = [_sample_size(rng, short) for _ in range(num_obj)]
    # Mostly back-to-front by size, so small objects stay visible on top.
    sizes.sort(key=lambda s: -s * rng.uniform(0.8, 1.25))
    num_clutter = int(rng.integers(0, 3))
    clutter_at = set(rng.integers(0, num_obj + 1, size=num_clutter).tolist())
    for i, size in enumerate(sizes + [None]):
        if i in clutter_at:  # free stick, possibly over earlier objects
            _draw_bar(rng, id_map, bar_map, bars,
                      (rng.uniform(0, w), rng.uniform(0, h)),
                      rng.uniform(0.1, 0.3) * short, rng.uniform(1, 3),
                      rng.uniform(0, math.pi))
        if size is None:
            break
        spec = _object_spec(rng, num_classes, w, h,
                            [s for s in specs if not s.get('iscrowd')], size)
        spec['iscrowd'] = 0
        inst_id = len(specs) + 1
        obj = shape_mask(SHAPE_KINDS[spec['cat'] % len(SHAPE_KINDS)],
                         (h, w), spec['centre'], size, spec['angle'], rng)
        history.append((inst_id, id_map.copy(), False))
        id_map[obj] = inst_id
        specs.append(spec)
        if size >= 16 and rng.random() < OCCLUDER_PROB:
            # A stick across the object splits it into separate parts.
            _draw_bar(rng, id_map, bar_map, bars, spec['centre'],
                      size * rng.uniform(0.75, 1.1),
                      max(1.5, size * rng.uniform(0.05, 0.1)),
                      rng.uniform(0, math.pi))
    _prune(id_map, history)
    for j, colour in enumerate(bars, start=1):
        sel = (bar_map == j) & (id_map == 0)
        img[sel] = colour + rng.normal(0, 3, (int(sel.sum()), 1))
    instances = []
    for inst_id, spec in enumerate(specs, start=1):
        sel = id_map == inst_id
        if not sel.any():
            continue
        _paint_object(rng, img, sel, spec)
        instances.append(dict(id=inst_id, category_id=spec['cat'] + 1,
                              iscrowd=int(spec['iscrowd'])))
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return image, id_map, instances


# --------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------
def _image_rng(seed: int, split_idx: int, index: int) -> np.random.Generator:
    ss = np.random.SeedSequence(seed, spawn_key=(split_idx, index))
    return np.random.default_rng(ss)


def _forced_empty_index(seed: int, split_idx: int) -> int:
    """Index (< 3) of the image that is empty in every split of 3+."""
    ss = np.random.SeedSequence(seed, spawn_key=(split_idx, ))
    return int(np.random.default_rng(ss).integers(3))


def _image_size(rng: np.random.Generator, img_size: Sequence[int],
                size_jitter: float) -> tuple[int, int]:
    lo, hi = 1 - size_jitter, 1 + size_jitter
    w = max(16, int(round(img_size[0] * rng.uniform(lo, hi))))
    h = max(16, int(round(img_size[1] * rng.uniform(lo, hi))))
    return w, h


def _build_split(out_dir: Path, split: str, split_idx: int, num: int,
                 seed: int, img_size: Sequence[int], num_classes: int,
                 size_jitter: float) -> dict:
    """Render, write and annotate the images of one split."""
    img_dir = out_dir / split
    img_dir.mkdir(parents=True, exist_ok=True)
    forced_empty = _forced_empty_index(seed, split_idx) if num >= 3 else -1
    images, annotations = [], []
    for i in range(num):
        rng = _image_rng(seed, split_idx, i)
        w, h = _image_size(rng, img_size, size_jitter)
        is_empty = rng.random() < EMPTY_FRACTION or i == forced_empty
        crowd = (not is_empty) and rng.random() < CROWD_PROB
        image, id_map, instances = render_sample(
            rng, w, h, num_classes, empty=is_empty, crowd=crowd)
        image_id = i + 1
        file_name = f'{split}_{image_id:06d}.png'
        if not cv2.imwrite(str(img_dir / file_name), image, PNG_PARAMS):
            raise OSError(f'could not write {img_dir / file_name}')
        images.append(dict(id=image_id, file_name=file_name, width=w,
                           height=h, license=1))
        for ann in annotate_instances(id_map, instances):
            annotations.append(dict(id=len(annotations) + 1,
                                    image_id=image_id, **ann))
    return dict(images=images, annotations=annotations)


def _coco_json(split: str, content: dict, num_classes: int, seed: int,
               img_size: Sequence[int], size_jitter: float) -> dict:
    info = dict(
        description=f'Synthetic toy instance segmentation, {split} split',
        version='1.0', year=2024,
        contributor='tools/misc/make_toy_dataset.py',
        url='', date_created='n/a (deterministic output)',
        generator=dict(seed=seed, img_size=list(img_size),
                       size_jitter=size_jitter, num_classes=num_classes))
    licenses = [dict(id=1, name='CC0-1.0 (synthetic images)',
                     url='https://creativecommons.org/publicdomain/zero/1.0/')]
    return dict(info=info, licenses=licenses, images=content['images'],
                annotations=content['annotations'],
                categories=make_categories(num_classes))


def split_stats(coco: dict) -> dict:
    """Counts of one split's COCO dict.

    ``tiny``, ``small`` and ``large`` count non-crowd annotations with
    area < 16^2, < 32^2 (tiny included) and > 96^2 pixels.
    """
    anns = coco['annotations']
    plain = [a for a in anns if not a['iscrowd']]
    used = {a['image_id'] for a in anns}
    return dict(
        images=len(coco['images']),
        empty_images=sum(im['id'] not in used for im in coco['images']),
        annotations=len(anns),
        crowd=len(anns) - len(plain),
        multipart=sum(len(a['segmentation']) > 1 for a in plain),
        tiny=sum(a['area'] < 16**2 for a in plain),
        small=sum(a['area'] < 32**2 for a in plain),
        large=sum(a['area'] > 96**2 for a in plain),
        per_category={c['name']: sum(a['category_id'] == c['id']
                                     for a in anns)
                      for c in coco['categories']})


def _targets(out_dir: Path) -> list[Path]:
    return ([out_dir / 'annotations' / f'instances_{s}.json'
             for s in SPLITS] + [out_dir / s for s in SPLITS])


def _check_args(seed: int, num_train: int, num_val: int,
                img_size: Sequence[int], num_classes: int,
                size_jitter: float) -> None:
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0')
    if len(img_size) != 2 or min(img_size) < 32:
        raise ValueError(f'img_size must be (W, H) >= 32, got {img_size}')
    if num_classes < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}')
    if not 0 <= size_jitter < 0.5:
        raise ValueError(f'size_jitter must be in [0, 0.5), got '
                         f'{size_jitter}')


def make_toy_dataset(out_dir: str | Path, seed: int = 0,
                     num_train: int = 48, num_val: int = 16,
                     img_size: Sequence[int] = (256, 192),
                     num_classes: int = 3, force: bool = False,
                     size_jitter: float = 0.2) -> dict:
    """Write the toy dataset to ``out_dir``.

    Args:
        out_dir (str | Path): Output root (created if missing).
        seed (int): Non-negative seed; same seed, same files.
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        img_size (Sequence[int]): Nominal ``(W, H)``; each side of each
            image is scaled by a factor in ``1 +- size_jitter``.
        num_classes (int): Number of categories (>= 1).
        force (bool): Replace existing outputs (the two annotation files
            and the ``train/``, ``val/`` folders); otherwise existing
            outputs raise ``FileExistsError``.
        size_jitter (float): Relative per-image size variation.

    Returns:
        dict: ``out_dir``, ``ann_files`` and ``img_dirs`` (split -> path
        str), ``stats`` (split -> :func:`split_stats`), ``categories``
        and ``time_s``.
    """
    start = time.perf_counter()
    _check_args(seed, num_train, num_val, img_size, num_classes, size_jitter)
    out = Path(out_dir)
    existing = [p for p in _targets(out) if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f'{existing[0]} exists; use force=True (--force) to replace it')
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    result = dict(out_dir=str(out), ann_files={}, img_dirs={}, stats={},
                  categories=make_categories(num_classes))
    for split_idx, (split, num) in enumerate(zip(SPLITS,
                                                 (num_train, num_val))):
        content = _build_split(out, split, split_idx, num, seed, img_size,
                               num_classes, size_jitter)
        coco = _coco_json(split, content, num_classes, seed, img_size,
                          size_jitter)
        ann_file = out / 'annotations' / f'instances_{split}.json'
        ann_file.write_text(json.dumps(coco, separators=(',', ':')) + '\n')
        result['ann_files'][split] = str(ann_file)
        result['img_dirs'][split] = str(out / split)
        result['stats'][split] = split_stats(coco)
    result['time_s'] = time.perf_counter() - start
    return result


def summary_line(result: dict) -> str:
    """One-line human summary of a :func:`make_toy_dataset` result."""
    st = result['stats']
    total = {k: sum(st[s][k] for s in SPLITS)
             for k in ('images', 'annotations', 'empty_images', 'crowd',
                       'multipart', 'tiny', 'small', 'large')}
    return (f"toy dataset -> {result['out_dir']}: {total['images']} images "
            f"(train {st['train']['images']} / val {st['val']['images']}, "
            f"{total['empty_images']} empty), {total['annotations']} "
            f"annotations (train {st['train']['annotations']} / val "
            f"{st['val']['annotations']}; {total['crowd']} crowd, "
            f"{total['multipart']} multi-part, {total['small']} small "
            f"(<32^2; {total['tiny']} <16^2), {total['large']} large "
            f"(>96^2)), {len(result['categories'])} classes, "
            f"{result['time_s']:.2f}s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the deterministic synthetic toy COCO '
        'instance-segmentation dataset.')
    parser.add_argument('out_dir', help='output root directory')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=48)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--img-size', type=int, nargs=2, default=[256, 192],
                        metavar=('W', 'H'),
                        help='nominal image size; each image varies by '
                        '+-20%% per side')
    parser.add_argument('--num-classes', type=int, default=3)
    parser.add_argument('--force', action='store_true',
                        help='replace existing annotation files and '
                        'train/, val/ folders')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = make_toy_dataset(
            args.out_dir, seed=args.seed, num_train=args.num_train,
            num_val=args.num_val, img_size=tuple(args.img_size),
            num_classes=args.num_classes, force=args.force)
    except (FileExistsError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(summary_line(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
