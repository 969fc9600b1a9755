"""Where a trained polar model loses mask AP: one factor at a time (the
core of ``tools/analysis_tools/diagnose_polar.py``).

The model runs once on the images of the config's test set with NMS off and
every detection above the score threshold kept. Each detection's polygon is
rasterised to an RLE at the original resolution and its mask IoU with every
ground-truth object is computed (pycocotools). From these it scores
variants of the post-processing with COCOeval (segm), so each row changes
one thing:

- ``official``: the head's own post-processing (class-aware NMS on the
  polygons' boxes at the configured IoU, top ``max_per_img``);
- ``no_nms``: the top ``max_per_img`` by score, no NMS;
- ``mask_nms``: class-aware greedy NMS on the polygons' mask IoU;
- ``true_iou_score``: the same detections re-scored with their true mask IoU
  (best same-class object), then mask NMS: perfect scoring and calibration;

and it measures the rays themselves:

- ``best_iou``: per object, the best mask IoU over all kept detections of
  its class (what perfect scoring could pick), averaged over the objects;
  compare with the oracle's mean IoU (the representation's ceiling);
- recall at IoU 0.5 / 0.75 of the official detections, their duplicates
  (a second detection of an already matched object) and false positives.

:func:`diagnose_checkpoint` runs it all; with ``oracle=True`` the polar
oracle (:func:`~mmdet_ext.evaluation.polar_oracle.run_oracle`) is scored on
the same annotation file, so every number can be read against the ceiling.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmdet_ext.geometry.hard_rasterizer import vertices_to_rle
from mmdet_ext.utils.config_utils import merge_cfg_options
from .coco_segm_eval import load_coco, segm_metrics
from .polar_oracle import polar_head_settings, run_oracle

METRICS = ('AP', 'AP50', 'AP75')


def load_model(config: Config, checkpoint: str) -> torch.nn.Module:
    """The detector of ``config`` with ``checkpoint`` loaded, in eval mode."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from mmdet.registry import MODELS
    init_default_scope(config.get('default_scope', 'mmdet'))
    model = MODELS.build(config.model)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    return model.eval()


def raw_detections(model: torch.nn.Module,
                   config: Config) -> Tuple[List[dict], List[int]]:
    """All detections above the score threshold of every test image, NMS
    off, as dicts of numpy arrays (original image coordinates), and the
    category id of each label."""
    from mmengine.dataset import pseudo_collate

    from mmdet.registry import DATASETS
    head = model.bbox_head
    test_cfg = dict(head.test_cfg)
    test_cfg.update(
        nms=dict(type='nms', iou_threshold=1.0),  # keeps every box
        max_per_img=10**6,
        mask_output=False)
    head.test_cfg = test_cfg
    dataset = DATASETS.build(config.test_dataloader.dataset)
    detections = []
    for index in range(len(dataset)):
        data = pseudo_collate([dataset[index]])
        with torch.no_grad():
            sample = model.test_step(data)[0]
        pred = sample.pred_instances
        detections.append(
            dict(
                img_id=sample.img_id,
                ori_shape=sample.ori_shape,
                scores=pred.scores.numpy(),
                labels=pred.labels.numpy(),
                bboxes=pred.bboxes.numpy(),
                polygons=pred.polygons.numpy()))
    return detections, list(dataset.cat_ids)


def box_iou(boxes: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) x1y1x2y2 boxes, as mmcv's NMS computes it."""
    lt = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area[:, None] + area[None] - inter, 1e-12)


def greedy_nms(scores: np.ndarray, labels: np.ndarray, overlaps: np.ndarray,
               threshold: float) -> np.ndarray:
    """Class-aware greedy NMS on a precomputed overlap matrix; kept indices
    in descending score order."""
    order = np.argsort(-scores, kind='stable')
    suppressed = np.zeros(len(scores), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= (overlaps[i] > threshold) & (labels == labels[i])
    return np.asarray(keep, dtype=np.int64)


class ImageFactors:
    """Detections of one image with their mask IoUs to the ground truth."""

    def __init__(self, det: dict, coco: COCO, cat_ids: Sequence[int]):
        height, width = det['ori_shape'][:2]
        self.img_id = det['img_id']
        self.scores = det['scores']
        self.labels = det['labels']
        self.bboxes = det['bboxes']
        self.cat_of_label = np.asarray(cat_ids)[self.labels] if len(
            self.labels) else np.zeros(0, dtype=np.int64)
        self.rles = (
            vertices_to_rle(det['polygons'], height, width)
            if len(det['polygons']) else [])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[self.img_id]))
        self.gts = [a for a in anns if not a.get('iscrowd', 0)]
        gt_rles = [coco.annToRLE(a) for a in self.gts]
        self.gt_cats = np.asarray([a['category_id'] for a in self.gts])
        if self.rles and gt_rles:
            self.ious = np.asarray(
                mask_utils.iou(self.rles, gt_rles, [0] * len(gt_rles)))
        else:
            self.ious = np.zeros((len(self.rles), len(gt_rles)))
        self.same_class = (self.cat_of_label[:, None] == self.gt_cats[None])
        self.class_ious = np.where(self.same_class, self.ious, 0.0)

    def true_iou(self) -> np.ndarray:
        """Best same-class mask IoU of each detection (n, )."""
        if self.class_ious.shape[1] == 0:
            return np.zeros(len(self.rles))
        return self.class_ious.max(axis=1)

    def best_iou_per_object(self) -> np.ndarray:
        """Best same-class IoU over all detections, per object."""
        if self.class_ious.shape[0] == 0:
            return np.zeros(len(self.gts))
        return self.class_ious.max(axis=0)

    def mask_overlaps(self) -> np.ndarray:
        """Pairwise mask IoU of the detections (n, n)."""
        if not self.rles:
            return np.zeros((0, 0))
        return np.asarray(
            mask_utils.iou(self.rles, self.rles, [0] * len(self.rles)))

    def results(self, keep: np.ndarray,
                scores: Optional[np.ndarray] = None) -> List[dict]:
        """COCO result dicts of the detections ``keep`` (indices), scored
        with ``scores`` (n, ) instead of the model's when given."""
        scores = self.scores if scores is None else scores
        return [
            dict(
                image_id=self.img_id,
                category_id=int(self.cat_of_label[i]),
                segmentation=self.rles[i],
                score=float(scores[i])) for i in keep
        ]

    def match_counts(self, keep: np.ndarray, threshold: float) -> dict:
        """Greedy score-ordered matching (as COCOeval): matched objects,
        duplicates and false positives among the kept detections."""
        matched = np.zeros(len(self.gts), dtype=bool)
        duplicates = false_pos = 0
        for i in keep:
            hits = self.class_ious[i] >= threshold
            if not hits.any():
                false_pos += 1
            elif (hits & ~matched).any():
                free = np.where(hits & ~matched, self.class_ious[i], -1)
                matched[free.argmax()] = True
            else:
                duplicates += 1
        return dict(
            matched=int(matched.sum()),
            duplicates=duplicates,
            false_positives=false_pos)


def _ap_metrics(coco: COCO, results: List[dict]) -> Dict[str, float]:
    """COCOeval segm AP, AP50, AP75 (0 without any result)."""
    metrics = segm_metrics(coco, results)
    # -1 (no ground truth at all) reads as 0 in the variants' table.
    return {name: max(metrics[name], 0.0) for name in METRICS}


def diagnose(images: List[ImageFactors], coco: COCO, nms_iou: float,
             max_per_img: int) -> dict:
    """Scores of the post-processing variants and the ray statistics."""
    variants = {name: [] for name in
                ('official', 'no_nms', 'mask_nms', 'true_iou_score')}
    counts = {f'{kind}@{t}': 0 for kind in ('matched', 'duplicates',
                                            'false_positives')
              for t in (0.5, 0.75)}
    best_ious, num_dets = [], 0
    for img in images:
        num_dets += len(img.rles)
        best_ious.append(img.best_iou_per_object())
        if not img.rles:
            continue
        box_keep = greedy_nms(img.scores, img.labels, box_iou(img.bboxes),
                              nms_iou)[:max_per_img]
        overlaps = img.mask_overlaps()
        mask_keep = greedy_nms(img.scores, img.labels, overlaps,
                               nms_iou)[:max_per_img]
        order = np.argsort(-img.scores, kind='stable')[:max_per_img]
        true_iou = img.true_iou()
        rescored_keep = greedy_nms(true_iou, img.labels, overlaps,
                                   nms_iou)[:max_per_img]
        variants['official'] += img.results(box_keep)
        variants['no_nms'] += img.results(order)
        variants['mask_nms'] += img.results(mask_keep)
        variants['true_iou_score'] += img.results(rescored_keep, true_iou)
        for threshold in (0.5, 0.75):
            for key, value in img.match_counts(box_keep, threshold).items():
                counts[f'{key}@{threshold}'] += value
    best = np.concatenate(best_ious) if best_ious else np.zeros(0)
    num_objects = len(best)
    return dict(
        variants={name: _ap_metrics(coco, res)
                  for name, res in variants.items()},
        num_objects=num_objects,
        detections_per_image=num_dets / max(len(images), 1),
        best_iou_mean=float(best.mean()) if num_objects else 0.0,
        best_iou_at_0_5=float((best >= 0.5).mean()) if num_objects else 0.0,
        best_iou_at_0_75=float((best >= 0.75).mean()) if num_objects else 0.0,
        recall_at_0_5=counts['matched@0.5'] / max(num_objects, 1),
        recall_at_0_75=counts['matched@0.75'] / max(num_objects, 1),
        duplicates_at_0_5=counts['duplicates@0.5'],
        false_positives_at_0_5=counts['false_positives@0.5'])


def diagnose_checkpoint(config: str,
                        checkpoint: str,
                        cfg_options: Optional[dict] = None,
                        oracle: bool = False) -> dict:
    """Diagnose ``checkpoint`` on the test set of ``config``.

    Returns:
        dict: ``variants`` (COCOeval segm AP / AP50 / AP75 per
        post-processing variant), the ray statistics (``best_iou_*``), the
        matching counts of the official detections and, with ``oracle``,
        the oracle's metrics on the same annotation file.
    """
    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, cfg_options)
    model = load_model(cfg, checkpoint)
    detections, cat_ids = raw_detections(model, cfg)
    ann_file = cfg.test_evaluator.ann_file
    coco = load_coco(ann_file)
    images = [ImageFactors(det, coco, cat_ids) for det in detections]
    result = diagnose(images, coco,
                      float(cfg.model.test_cfg.nms.iou_threshold),
                      int(cfg.model.test_cfg.get('max_per_img', 100)))
    if oracle:
        # The representation of the model's head, K rays included.
        result['oracle'] = run_oracle(
            ann_file, **(polar_head_settings(cfg.model) or {}))
    return result
