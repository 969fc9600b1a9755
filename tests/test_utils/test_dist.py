"""CPU distributed setup and teardown in one process (world size 1)."""
import torch.distributed as torch_dist
from mmengine.config import Config

from conftest import free_port
from mmdet_ext.utils import setup_distributed, teardown_distributed


def test_setup_then_teardown_one_cpu_process(monkeypatch):
    for key, value in dict(
            RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    cfg = Config(dict(model=dict(norm_cfg=dict(type='SyncBN'))))
    setup_distributed(cfg, 'pytorch')
    try:
        assert torch_dist.is_initialized()
        assert torch_dist.get_backend() == 'gloo'
        assert cfg.model_wrapper_cfg.device_ids is None
        assert cfg.model.norm_cfg.type == 'BN'
    finally:
        teardown_distributed()
    assert not torch_dist.is_initialized()
    teardown_distributed()  # without a process group: a no-op, no error
    assert not torch_dist.is_initialized()
