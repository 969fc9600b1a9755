"""mmdet_ext.evaluation.polar_diagnosis: post-processing variants and ray
statistics of a trained polar model (the run on a trained model is in
tests/test_projects/test_learnability.py)."""
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmdet_ext.evaluation import polar_diagnosis as diagnose


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
    iou = diagnose.box_iou(boxes)
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
    perfect = diagnose._ap_metrics(
        coco, [dict(image_id=1, category_id=3, segmentation=rle, score=1.)])
    assert perfect['AP'] == pytest.approx(1.0)
    assert diagnose._ap_metrics(coco, []) == dict(AP=0.0, AP50=0.0, AP75=0.0)


def _square(x, y, side):
    return np.array([[x, y], [x + side, y], [x + side, y + side],
                     [x, y + side]], dtype=float)


@pytest.fixture
def one_image():
    """Two 20 x 20 squares (category 3) and four detections: both objects
    (the second one scored low), a shifted duplicate of the first and a
    false positive, whose scores rank the duplicate above object 2."""
    from pycocotools.coco import COCO
    coco = COCO()
    coco.dataset = dict(
        images=[dict(id=1, width=100, height=80)],
        categories=[dict(id=3, name='a')],
        annotations=[
            dict(id=i + 1, image_id=1, category_id=3, iscrowd=0,
                 segmentation=[_square(x, 10, 20).reshape(-1).tolist()],
                 area=400., bbox=[x, 10, 20, 20])
            for i, x in enumerate((10, 60))
        ])
    coco.createIndex()
    polygons = np.stack([_square(10, 10, 20), _square(60, 10, 20),
                         _square(13, 10, 20), _square(40, 50, 15)])
    det = dict(img_id=1, ori_shape=(80, 100),
               scores=np.array([0.9, 0.3, 0.8, 0.5]),
               labels=np.zeros(4, dtype=np.int64),
               bboxes=np.concatenate([polygons.min(1), polygons.max(1)], 1),
               polygons=polygons)
    return diagnose.ImageFactors(det, coco, [3]), coco


def test_image_factors_true_ious(one_image):
    img, _ = one_image
    # The duplicate is shifted by 3 px: IoU 17 * 20 / (23 * 20).
    assert img.true_iou() == pytest.approx([1.0, 1.0, 17 / 23, 0.0])
    assert img.best_iou_per_object() == pytest.approx([1.0, 1.0])


def test_diagnose_separates_nms_and_scoring(one_image):
    img, coco = one_image
    result = diagnose.diagnose([img], coco, nms_iou=0.5, max_per_img=100)
    variants = result['variants']
    # Box and mask NMS remove the duplicate (IoU 0.74); the false positive
    # outranks object 2 and costs precision at its recall.
    assert variants['official'] == variants['mask_nms']
    assert variants['official']['AP50'] < 1.0
    # Without NMS the duplicate is a second false positive.
    assert variants['no_nms']['AP50'] < variants['official']['AP50']
    # Scored by their true IoU, both objects come first: perfect AP.
    assert variants['true_iou_score']['AP'] == pytest.approx(1.0)
    assert result['num_objects'] == 2
    assert result['detections_per_image'] == 4
    assert result['best_iou_mean'] == pytest.approx(1.0)
    assert result['recall_at_0_5'] == result['recall_at_0_75'] == 1.0
    assert result['duplicates_at_0_5'] == 0
    assert result['false_positives_at_0_5'] == 1
