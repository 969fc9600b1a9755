"""Building the PyTorch detector the deployment tools export and compare
with."""
from typing import Dict, Optional

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import import_modules_from_strings

from mmdet.registry import MODELS
from mmdet_ext.utils.benchmark import without_pretrained
from mmdet_ext.utils.checkpoint import check_checkpoint_matches


def import_config_modules(cfg: Config) -> None:
    """Default scope and ``custom_imports`` of a config (the runner does
    this; tools that build models themselves must too)."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if cfg.get('custom_imports', None):
        import_modules_from_strings(**cfg.custom_imports)


def load_detector(cfg: Config, checkpoint: Optional[str] = None) -> nn.Module:
    """The config's detector on the CPU in eval mode, with the checkpoint's
    weights and ``dataset_meta``, or randomly initialised without one (no
    pretrained backbone is downloaded).

    Raises:
        ValueError: The checkpoint's weights do not fit the model (mmengine
            would only warn and keep random layers).
    """
    import_config_modules(cfg)
    model = MODELS.build(without_pretrained(cfg.model))
    if checkpoint is None:
        model.init_weights()
    else:
        message = check_checkpoint_matches(model, checkpoint)
        if message:
            raise ValueError(message)
        loaded = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = loaded.get('meta', {}) if isinstance(loaded, dict) else {}
        if meta.get('dataset_meta'):
            model.dataset_meta = dict(meta['dataset_meta'])
    return model.cpu().eval()


def dataset_meta(cfg: Config, model: Optional[nn.Module] = None) -> Dict:
    """``classes`` and ``palette`` of the model: the checkpoint's, else the
    test dataset's ``metainfo`` in the config (empty if neither has them)."""
    meta = dict(getattr(model, 'dataset_meta', None) or {})
    if not meta.get('classes'):
        dataset = cfg.get('test_dataloader', {}).get('dataset', {})
        while 'dataset' in dataset:  # wrappers (ConcatDataset, ...)
            dataset = dataset['dataset']
        meta = dict(dataset.get('metainfo', None) or {})
    return {key: meta[key] for key in ('classes', 'palette') if key in meta}
