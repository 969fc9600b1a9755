"""diagnose_polar.py: post-processing variants and ray statistics of a
trained polar model (the end-to-end run is in test_learnability.py)."""
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from conftest import load_tool

diagnose = load_tool('tools/analysis_tools/diagnose_polar.py')


def test_greedy_nms_is_class_aware():
    scores = np.array([0.9, 0.8, 0.7])
    labels = np.array([0, 0, 1])
    overlaps = np.ones((3, 3))  # everything overlaps everything
    keep = diagnose.greedy_nms(scores, labels, overlaps, 0.5)
    assert keep.tolist() == [0, 2]


def test_greedy_nms_keeps_disjoint_detections_in_score_order():
    scores = np.array([0.2, 0.9, 0.5])
    keep = diagnose.greedy_nms(scores, np.zeros(3, int), np.eye(3), 0.5)
    assert keep.tolist() == [1, 2, 0]


def test_box_iou_matches_hand_computation():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], dtype=float)
    iou = diagnose._box_iou(boxes)
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[0, 0] == pytest.approx(1.0)


class _Factors(diagnose.ImageFactors):
    """ImageFactors with given same-class IoUs, without a model or COCO."""

    def __init__(self, class_ious):
        self.class_ious = np.asarray(class_ious, dtype=float)
        self.gts = [None] * self.class_ious.shape[1]


def test_match_counts_duplicates_and_false_positives():
    # Detections in score order: two hit object 0, one hits nothing.
    img = _Factors([[0.9, 0.0], [0.8, 0.1], [0.2, 0.3]])
    counts = img.match_counts(np.array([0, 1, 2]), 0.5)
    assert counts == dict(matched=1, duplicates=1, false_positives=1)


def test_match_counts_second_detection_takes_free_object():
    img = _Factors([[0.9, 0.6], [0.8, 0.7]])
    counts = img.match_counts(np.array([0, 1]), 0.5)
    assert counts == dict(matched=2, duplicates=0, false_positives=0)


def test_coco_segm_of_perfect_and_empty_results(tmp_path):
    from pycocotools.coco import COCO
    square = [10., 10., 40., 10., 40., 40., 10., 40.]
    coco = COCO()
    coco.dataset = dict(
        images=[dict(id=1, width=64, height=64)],
        categories=[dict(id=3, name='a')],
        annotations=[
            dict(id=1, image_id=1, category_id=3, iscrowd=0,
                 segmentation=[square], area=900., bbox=[10, 10, 30, 30])
        ])
    coco.createIndex()
    rle = mask_utils.merge(mask_utils.frPyObjects([square], 64, 64))
    perfect = diagnose.coco_segm(
        coco, [dict(image_id=1, category_id=3, segmentation=rle, score=1.)])
    assert perfect['AP'] == pytest.approx(1.0)
    assert diagnose.coco_segm(coco, []) == dict(AP=0.0, AP50=0.0, AP75=0.0)
