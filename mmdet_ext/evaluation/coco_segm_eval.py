"""COCOeval mask (``segm``) metrics of result dicts, quietly.

The polar oracle and the polar diagnosis both score lists of COCO result
dicts (``image_id``, ``category_id``, RLE ``segmentation``, ``score``)
against an annotation file; this is their one COCOeval call.
"""
import contextlib
import io
from typing import Dict, List

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# COCOeval.stats[:6] in order.
SEGM_METRICS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')


def load_coco(ann_file: str) -> COCO:
    """The annotation file as a pycocotools ``COCO``, without its prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(ann_file))


def segm_metrics(coco: COCO, results: List[dict],
                 max_dets: int = 100) -> Dict[str, float]:
    """COCOeval ``segm`` metrics of ``results``.

    Args:
        coco (COCO): Ground truth.
        results (list[dict]): COCO result dicts with RLE segmentations.
        max_dets (int): COCOeval's largest ``maxDets`` (100 is standard).

    Returns:
        dict[str, float]: ``SEGM_METRICS`` to values in [0, 1] (-1 where
        COCOeval has no ground truth in a size range); all 0 without any
        result (``loadRes`` rejects an empty list).
    """
    if not results:
        return {name: 0.0 for name in SEGM_METRICS}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco, coco.loadRes(results), iouType='segm')
        evaluator.params.maxDets = [1, 10, max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {
        name: float(value)
        for name, value in zip(SEGM_METRICS, evaluator.stats[:6])
    }
