"""--cfg-options data_root=... moves datasets and evaluators together."""
from mmengine.config import Config

from mmdet_ext.utils import merge_cfg_options


def test_data_root_override_propagates(repo_root):
    cfg = Config.fromfile(
        str(repo_root / 'configs/solov2/solov2_r50_fpn_1x_coco.py'))
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    merge_cfg_options(cfg, {'data_root': '/datasets/coco/'})
    assert cfg.data_root == '/datasets/coco/'
    assert cfg.train_dataloader.dataset.data_root == '/datasets/coco/'
    assert cfg.test_dataloader.dataset.data_root == '/datasets/coco/'
    assert cfg.val_evaluator.ann_file == \
        '/datasets/coco/annotations/instances_val2017.json'
    assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file


def test_explicit_options_win_over_propagation(repo_root):
    cfg = Config.fromfile(
        str(repo_root / 'configs/solov2/solov2_r50_fpn_1x_coco.py'))
    merge_cfg_options(
        cfg, {
            'data_root': '/x/',
            'val_evaluator.ann_file': '/y/val.json',
            'train_dataloader.batch_size': 1
        })
    assert cfg.val_evaluator.ann_file == '/y/val.json'
    assert cfg.train_dataloader.dataset.data_root == '/x/'
    assert cfg.train_dataloader.batch_size == 1


def test_no_options_is_a_no_op(repo_root):
    cfg = Config.fromfile(
        str(repo_root / 'configs/solov2/solov2_r50_fpn_1x_coco.py'))
    before = cfg.pretty_text
    merge_cfg_options(cfg, None)
    assert cfg.pretty_text == before


# ------------------------------------------------ explain_config_error
POLARNEXT_TOY = 'projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py'


def _build_error(repo_root, options=None, delete=None):
    """The error MMDetection raises building the model of a bad config."""
    import mmdet_ext  # noqa: F401 (registers the project)
    from mmengine.registry import DefaultScope, init_default_scope

    from mmdet.registry import MODELS
    cfg = Config.fromfile(str(repo_root / POLARNEXT_TOY))
    cfg.merge_from_dict(options or {})
    if delete:
        del cfg.model.bbox_head[delete]
    init_default_scope('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        try:
            MODELS.build(cfg.model)
        except Exception as err:  # what the tools catch
            return cfg, err
    raise AssertionError('the model built')


def test_misspelt_argument_names_the_key(repo_root):
    from mmdet_ext.utils import explain_config_error
    cfg, err = _build_error(repo_root, {'model.bbox_head.num_clases': 3})
    message = explain_config_error(cfg, err)
    assert message.startswith('bad config key model.bbox_head.num_clases:')
    assert message.endswith("(did you mean 'num_classes'?)")


def test_unregistered_type_names_the_key(repo_root):
    from mmdet_ext.utils import explain_config_error
    cfg, err = _build_error(repo_root, {'model.neck.type': 'FPNN'})
    assert explain_config_error(cfg, err) == (
        "bad config key model.neck.type: 'FPNN' is not registered in "
        'mmdet::model (misspelt, or its module not in custom_imports?)')


def test_missing_argument_names_the_key(repo_root):
    from mmdet_ext.utils import explain_config_error
    cfg, err = _build_error(repo_root, delete='num_classes')
    assert explain_config_error(cfg, err).startswith(
        'missing config key model.bbox_head.num_classes:')


def test_unrelated_error_is_not_explained(repo_root):
    from mmdet_ext.utils import explain_config_error
    cfg = Config.fromfile(str(repo_root / POLARNEXT_TOY))
    assert explain_config_error(cfg, ValueError('boom')) is None
    # a keyword that is no config key: not blamed on the config
    err = TypeError("f() got an unexpected keyword argument 'zzz'")
    assert explain_config_error(cfg, err) is None
