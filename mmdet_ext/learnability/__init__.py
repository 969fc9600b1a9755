"""Learnability experiments: train a config on a few real images and test
it on the same images (:mod:`.overfit`), over several budgets and seeds
against the polar oracle (:mod:`.learning_curve`)."""
from .learning_curve import (build_rows, collect_learning_curve,
                             compute_oracles, oracle_settings,
                             train_or_reuse)
from .overfit_loop import build_overfit_config, overfit, scale_schedule

__all__ = [
    'build_rows', 'collect_learning_curve', 'compute_oracles',
    'oracle_settings', 'train_or_reuse', 'build_overfit_config', 'overfit',
    'scale_schedule'
]
