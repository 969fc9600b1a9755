"""RLEMasks satisfies MMDetection's mask consumers without bitmaps."""
import numpy as np
import torch
from mmengine.structures import InstanceData
from pycocotools import mask as mask_utils

from mmdet.evaluation.metrics.coco_metric import CocoMetric
from mmdet.structures.mask import encode_mask_results
from mmdet_ext.structures import RLEMasks
from mmdet_ext.structures.rle_masks import paired_mask_ious

H, W = 60, 80


def _polygons():
    return torch.tensor([
        [[10., 10.], [40., 10.], [40., 30.], [10., 30.]],
        [[50., 20.], [70., 20.], [60., 50.], [50., 40.]],
    ])


def _instances():
    masks = RLEMasks.from_polygons(_polygons(), H, W)
    return InstanceData(
        bboxes=torch.tensor([[10., 10., 40., 30.], [50., 20., 70., 50.]]),
        scores=torch.tensor([0.9, 0.8]),
        labels=torch.tensor([0, 1]),
        masks=masks)


def test_matches_pycocotools_rasterisation():
    masks = RLEMasks.from_polygons(_polygons(), H, W)
    ref = mask_utils.decode(
        mask_utils.frPyObjects(
            [p.reshape(-1).tolist() for p in _polygons().numpy()], H, W))
    assert np.array_equal(masks.to_ndarray(), ref.transpose(2, 0, 1))
    assert masks.areas().tolist() == ref.sum(axis=(0, 1)).tolist()


def test_instance_data_indexing_keeps_type():
    inst = _instances()
    assert isinstance(inst[torch.tensor([1])].masks, RLEMasks)
    assert isinstance(inst[:1].masks, RLEMasks)
    assert isinstance(inst[inst.scores > 0.85].masks, RLEMasks)
    both = InstanceData.cat([inst[:1], inst[1:]])
    assert isinstance(both.masks, RLEMasks) and len(both.masks) == 2


def test_visualizer_and_inferencer_paths():
    inst = _instances().numpy()  # what DetInferencer does first
    bitmaps = inst.masks.astype(bool)  # DetLocalVisualizer
    assert bitmaps.shape == (2, H, W) and bitmaps.dtype == bool
    encoded = encode_mask_results(inst.masks)  # DetInferencer.pred2dict
    assert [mask_utils.area(e) for e in encoded] == list(
        inst.masks.areas().astype(np.uint32))


def test_coco_metric_accepts_rle_masks(tmp_path):
    ann = dict(
        images=[dict(id=1, width=W, height=H, file_name='a.png')],
        categories=[dict(id=1, name='a'), dict(id=2, name='b')],
        annotations=[
            dict(id=i + 1, image_id=1, category_id=i + 1, iscrowd=0,
                 segmentation=[p.reshape(-1).tolist()],
                 area=float(mask_utils.area(mask_utils.frPyObjects(
                     [p.reshape(-1).tolist()], H, W))[0]),
                 bbox=[float(p[:, 0].min()), float(p[:, 1].min()),
                       float(np.ptp(p[:, 0])), float(np.ptp(p[:, 1]))])
            for i, p in enumerate(_polygons().numpy())
        ])
    ann_file = tmp_path / 'ann.json'
    import json
    ann_file.write_text(json.dumps(ann))
    metric = CocoMetric(ann_file=str(ann_file), metric=['segm'])
    metric.dataset_meta = dict(classes=('a', 'b'))
    sample = dict(img_id=1, ori_shape=(H, W), pred_instances=_instances())
    metric.process({}, [sample])
    result = metric.evaluate(1)
    assert result['coco/segm_mAP'] == 1.0


def test_paired_mask_ious_pairs_by_index():
    """IoU of masks[i] with others[i] only, not the best match."""
    square = np.zeros((20, 20), np.uint8)
    square[:10, :10] = 1
    half = np.zeros((20, 20), np.uint8)
    half[:10, :5] = 1
    a, b = (mask_utils.encode(np.asfortranarray(m)) for m in (square, half))
    np.testing.assert_allclose(paired_mask_ious([a, b], [b, b]), [0.5, 1.0])
    assert paired_mask_ious([], []).shape == (0, )
