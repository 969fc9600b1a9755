"""Config helpers shared by the tools."""
from typing import Any, Optional

from mmengine.config import Config


def _replace_root(node: Any, old: str, new: str) -> Any:
    """Return ``node`` with every ``data_root`` equal to ``old`` and every
    ``ann_file``/``outfile_prefix`` starting with ``old`` moved to ``new``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'data_root' and value == old:
                node[key] = new
            elif key in ('ann_file', 'outfile_prefix') and isinstance(
                    value, str) and value.startswith(old):
                node[key] = new + value[len(old):]
            else:
                node[key] = _replace_root(value, old, new)
    elif isinstance(node, list):
        return [_replace_root(value, old, new) for value in node]
    elif isinstance(node, tuple):
        return tuple(_replace_root(value, old, new) for value in node)
    return node


def merge_cfg_options(cfg: Config, options: Optional[dict]) -> None:
    """Merge ``--cfg-options`` into ``cfg``, propagating ``data_root``.

    mmengine substitutes a config's top-level ``data_root`` into the dataset
    and evaluator dicts when the file is parsed, so ``--cfg-options
    data_root=X`` alone would not move them. Here every dataset
    ``data_root`` equal to the old value, and every evaluator ``ann_file``
    under it, follows the new one (explicit options for those keys still win,
    because they are merged afterwards).

    Args:
        cfg (Config): Config to edit in place.
        options (dict, optional): Parsed ``--cfg-options``.
    """
    if not options:
        return
    options = dict(options)
    new_root = options.pop('data_root', None)
    old_root = cfg.get('data_root')
    if new_root is not None:
        if old_root:
            for key in list(cfg.keys()):
                if key != 'data_root':
                    cfg[key] = _replace_root(cfg[key], old_root, new_root)
        cfg.data_root = new_root
    if options:
        cfg.merge_from_dict(options)
