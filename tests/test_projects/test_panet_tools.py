"""The tiny PANet end to end on CPU: a two-process gloo DDP training step
(mmengine's DDP wrapper, as ``tools/dist_train.sh``), train -> test through
``tools/train.py`` / ``tools/test.py``, and learnability through
``tools/analysis_tools/learning_curve.py`` (long; the others are slow, in
``make test``)."""
import copy
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers.tools import metrics_of_test_run, train_scalars

from conftest import free_port, load_tool, run_tool, tiny_toy_options

CONFIG = 'projects/PANet/configs/panet_r18_pafpn-gn_toy-cpu.py'
OVERFIT = 'projects/PANet/configs/panet_r18_pafpn-gn_overfit-coco128-cpu.py'
NUM_CLASSES = 3
# An (almost) untrained model: keep low-scoring detections so AP is computed.
LOW_SCORES = ['model.test_cfg.rcnn.score_thr=0.0']


def _ddp_worker(rank: int, world_size: int, port: int, results) -> None:
    """One rank: build the tiny PANet (same seed on both ranks), wrap it in
    mmengine's DDP, two SGD steps on rank-specific images (rank 1's image
    has no object), then gather every gradient to compare the ranks."""
    import os
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        from mmengine.config import Config
        from mmengine.model.wrappers import MMDistributedDataParallel
        from mmengine.optim import OptimWrapper
        from mmengine.registry import init_default_scope
        from mmengine.structures import InstanceData

        import projects.PANet.panet  # noqa: F401
        from conftest import REPO_ROOT
        from mmdet.registry import MODELS
        from mmdet.structures.mask import PolygonMasks
        from mmdet_ext.testing import synthetic_gt
        from mmdet_ext.utils.forced_detections import raw_batch

        init_default_scope('mmdet')
        cfg = Config.fromfile(str(REPO_ROOT / CONFIG))
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.backbone.init_cfg = None
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        model.init_weights()
        ddp = MMDistributedDataParallel(module=model)
        optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
        size = (96, 128)
        if rank == 0:
            gt = synthetic_gt(3, size, NUM_CLASSES, np.random.default_rng(0))
        else:
            gt = InstanceData(labels=torch.zeros(0, dtype=torch.long),
                              bboxes=torch.zeros(0, 4),
                              masks=PolygonMasks([], *size))
        losses = []
        for step in range(2):
            optim.zero_grad()
            data = raw_batch(size, 10 * rank + step, gt)
            log_vars = ddp.train_step(data, optim_wrapper=_NoStep(optim))
            losses.append(float(log_vars['loss']))
            grads = {
                name: None if p.grad is None else p.grad.detach().clone()
                for name, p in model.named_parameters() if p.requires_grad
            }
            optim.step()
        missing = [n for n, g in grads.items() if g is None]
        flat = torch.cat(
            [g.flatten() for g in grads.values() if g is not None])
        gathered = [torch.zeros_like(flat) for _ in range(world_size)]
        dist.all_gather(gathered, flat)
        level_norms = [
            float(model.roi_head.bbox_roi_extractor.level_layers[i].conv
                  .weight.grad.norm()) for i in range(4)
        ]
        results[rank] = dict(
            losses=losses, missing=missing, level_norms=level_norms,
            max_diff=float((gathered[0] - gathered[1]).abs().max()),
            scale=float(flat.abs().max()))
    finally:
        dist.destroy_process_group()


class _NoStep:
    """An optim wrapper for ``train_step`` that only back-propagates, so
    the worker can read the all-reduced gradients before stepping."""

    def __init__(self, optim):
        self.optim = optim

    def optim_context(self, model):
        return self.optim.optim_context(model)

    def update_params(self, loss):
        loss.backward()


# About 30 s on 2 idle cores (two fresh interpreters import mmdet); 108 s
# measured under load.
@pytest.mark.slow
def test_two_process_gloo_ddp_step():
    """Every parameter (the 4 per-level layers of both extractors, the
    fusion branch) gets a gradient on both ranks, DDP leaves identical
    gradients on them, also when one rank's image has no object."""
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_ddp_worker, args=(2, free_port(), results), nprocs=2,
             join=True)
    assert sorted(results.keys()) == [0, 1]
    for rank in (0, 1):
        result = results[rank]
        assert not result['missing'], result['missing']
        assert all(np.isfinite(result['losses'])), result
        assert all(n > 0 for n in result['level_norms']), result
    assert results[0]['max_diff'] <= 1e-6 * max(results[0]['scale'], 1)


# Two tool processes: about 1 minute idle, 210 s measured under load.
@pytest.mark.slow
def test_train_then_test_through_the_tools(toy_root, tmp_path):
    """``tools/train.py`` one epoch of 4 toy images, then ``tools/test.py``
    on its checkpoint: COCO segm and bbox AP are reported."""
    work_dir = tmp_path / 'train'
    run_tool([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
        '--cfg-options', *tiny_toy_options(toy_root, 1)
    ])
    scalars = train_scalars(work_dir)
    assert [s['iter'] for s in scalars] == [1, 2]
    for key in ('loss', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert all(np.isfinite(s[key]) for s in scalars), (key, scalars)
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()
    run_tool([
        sys.executable, 'tools/test.py', CONFIG, checkpoint, '--work-dir',
        tmp_path / 'test', '--cfg-options', *tiny_toy_options(toy_root),
        *LOW_SCORES
    ])
    metrics = metrics_of_test_run(tmp_path / 'test')
    assert 0 <= metrics['coco/segm_mAP'] <= 1, metrics
    assert 0 <= metrics['coco/bbox_mAP'] <= 1, metrics


# Measured (project README): segm AP 0.353 (AP50 0.53, bbox AP 0.360) after
# 100 iterations at 384 px on 4 coco128 images, seed 0 (0.208 with the SGD the
# overfit config had before); a model that does not learn stays near 0, so the
# check fails on a broken model.
SHORT_THRESHOLD = 0.10


@pytest.mark.long
def test_tiny_panet_learns_in_100_iterations(coco128_root, tmp_path):
    """The CI budget of the tiny PolarNeXt / SparseInst: 4 coco128 images,
    384 px, 100 iterations, through the learning-curve tool. A model that
    does not learn stays near 0."""
    curve = load_tool('tools/analysis_tools/learning_curve.py')
    scale = [
        f'{loader}.dataset.pipeline.{index}.scale=(384,384)'
        for loader, index in (('train_dataloader', 2), ('val_dataloader', 1),
                              ('test_dataloader', 1))
    ]
    result = curve.learning_curve([OVERFIT], data_root=str(coco128_root),
                                  iters=[100], work_dir=str(tmp_path),
                                  cfg_options=scale, oracle=False)
    row, = result['rows']
    assert row['segm_mAP']['mean'] >= SHORT_THRESHOLD, row
