"""Tools that are expected to stop with an ``error:`` line.

:func:`tool_error` runs the command line (conftest's runner) for the tests
of the command line itself: exit code and last line. :func:`main_exit`
calls a tool's ``main()`` in-process for everything else: the message it
exits with is the line the command line prints.
"""
import sys
from typing import Tuple

import pytest

from conftest import REPO_ROOT, _run, load_tool


def tool_error(args, timeout=300, env=None) -> Tuple[int, str]:
    """Exit code and last output line of a command run from the repository
    root (the ``error:`` line of a tool that stops)."""
    returncode, output = _run(args, timeout, env)
    lines = output.strip().splitlines()
    return returncode, lines[-1] if lines else ''


def main_exit(monkeypatch, tool: str, *argv) -> str:
    """Call ``tools/<tool>.py``'s ``main()`` with ``argv`` and return the
    message of the ``SystemExit`` it must raise (what ``sys.exit(message)``
    prints on stderr with exit code 1)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / 'tools'))
    monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *map(str, argv)])
    monkeypatch.setenv('LOCAL_RANK', '0')
    module = load_tool(f'tools/{tool}.py')
    with pytest.raises(SystemExit) as info:
        module.main()
    assert isinstance(info.value.code, str), info.value.code
    return info.value.code
