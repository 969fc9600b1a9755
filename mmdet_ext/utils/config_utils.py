"""Config helpers shared by the tools."""
import difflib
import re
from typing import Any, List, Optional, Sequence

from mmengine.config import Config


def check_choice(name: str, value: Any, choices: Sequence) -> None:
    """Raise ``ValueError`` naming the option when ``value`` is not one of
    ``choices``."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')


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


# ---------------------------------------------------------- config errors
_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"missing \d+ required (?:positional |keyword-only )?"
                      r"arguments?: ((?:'\w+'(?:,? (?:and )?)?)+)")
_NOT_REGISTERED = re.compile(r'(\S+) is not in the (\S+) registry')
_CLASS = re.compile(r'class `(\w+)` in|(\w+)\.__init__\(\)')


def _paths(node: Any, prefix: str = ''):
    """Yield ``(dotted path, key, value, parent dict)`` of every dict item."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}' if prefix else str(key)
            yield path, key, value, node
            yield from _paths(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _paths(value, f'{prefix}[{i}]')


def _type_paths(cfg: Config, type_name: str) -> List[str]:
    return [
        path.rsplit('.', 1)[0] for path, key, value, _ in _paths(cfg._cfg_dict)
        if key == 'type' and _type_name(value) == type_name
    ]


def _type_name(value: Any) -> str:
    return value if isinstance(value, str) else getattr(
        value, '__name__', str(value))


def explain_config_error(cfg: Config, err: BaseException) -> Optional[str]:
    """Name the config key behind a build error, if it can be found.

    mmengine builds objects from config dicts, so a misspelt argument or
    type surfaces as ``TypeError: ... unexpected keyword argument`` or
    ``KeyError: ... is not in the ... registry`` from deep inside a
    registry, without the config path. This maps such messages back to the
    dotted keys of ``cfg`` holding the bad name, with a suggestion from the
    neighbouring keys.

    Args:
        cfg (Config): The config the runner was built from.
        err (BaseException): The error raised while building or training.

    Returns:
        str | None: A one-line explanation naming the key(s), or None if
        the error is not about a config key found in ``cfg``.
    """
    # str(KeyError) adds quotes around the message.
    is_key_error = isinstance(err, KeyError) and err.args
    text = str(err.args[0] if is_key_error else err)
    match = _UNEXPECTED.search(text)
    if match:
        name = match.group(1)
        hits = [(path, parent) for path, key, _, parent in _paths(
            cfg._cfg_dict) if key == name]
        if hits:
            suggestion = difflib.get_close_matches(
                name, [k for k in hits[0][1] if k != name], n=1)
            hint = f' (did you mean {suggestion[0]!r}?)' if suggestion else ''
            return (f'bad config key {", ".join(p for p, _ in hits)}: '
                    f'{_last_line(text)}{hint}')
    match = _NOT_REGISTERED.search(text)
    if match:
        paths = _type_paths(cfg, match.group(1))
        if paths:
            return (f'bad config key {", ".join(p + ".type" for p in paths)}:'
                    f' {match.group(1)!r} is not registered in '
                    f'{match.group(2)} (misspelt, or its module not in '
                    'custom_imports?)')
    match, cls = _MISSING.search(text), _CLASS.search(text)
    if match and cls:
        paths = _type_paths(cfg, cls.group(1) or cls.group(2))
        if paths:
            names = re.findall(r"'(\w+)'", match.group(1))
            keys = ', '.join(f'{p}.{n}' for p in paths for n in names)
            return f'missing config key {keys}: {_last_line(text)}'
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text
