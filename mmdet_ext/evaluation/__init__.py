"""Analyses of polar models against COCO ground truth: the polar oracle
(the representation's ceiling) and the diagnosis of a trained model."""
from .coco_segm_eval import SEGM_METRICS, load_coco, segm_metrics
from .polar_diagnosis import (ImageFactors, box_iou, diagnose,
                              diagnose_checkpoint, greedy_nms,
                              raw_detections)
from .polar_oracle import (DEFAULT_SETTINGS, clean_ground_truth,
                           oracle_vertices, polar_head_settings, polar_rays,
                           run_oracle)

__all__ = [
    'SEGM_METRICS', 'load_coco', 'segm_metrics', 'ImageFactors', 'box_iou',
    'diagnose', 'diagnose_checkpoint', 'greedy_nms', 'raw_detections',
    'DEFAULT_SETTINGS', 'clean_ground_truth', 'oracle_vertices',
    'polar_head_settings', 'polar_rays', 'run_oracle'
]
