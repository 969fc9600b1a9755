"""The runner a config asks for."""
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def build_runner(cfg: Config) -> Runner:
    """The runner of ``cfg``: ``runner_type`` if set, else mmengine's
    ``Runner`` (as MMDetection's train.py and test.py build it)."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)
