"""Analyses of polar models against COCO ground truth: the polar oracle
(the representation's ceiling) and the diagnosis of a trained model."""
from .coco_segm_eval import SEGM_METRICS, load_coco, segm_metrics
from .polar_diagnosis import (ImageFactors, box_iou, diagnose,
                              diagnose_checkpoint, greedy_nms,
                              raw_detections)
from .polar_oracle import clean_ground_truth, oracle_vertices, run_oracle

__all__ = [
    'SEGM_METRICS', 'load_coco', 'segm_metrics', 'ImageFactors', 'box_iou',
    'diagnose', 'diagnose_checkpoint', 'greedy_nms', 'raw_detections',
    'clean_ground_truth', 'oracle_vertices', 'run_oracle'
]
