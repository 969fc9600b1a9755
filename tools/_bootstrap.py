"""Shared start-up of the tools: repo on ``sys.path`` and project registration.

Importing ``mmdet_ext`` registers the project's modules and the safe checkpoint loader
(see ``mmdet_ext/utils/checkpoint.py``) before any checkpoint is read.
"""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmdet_ext  # noqa: E402,F401
