"""Test-only helpers (shapes, ray targets of whole polygons).

``tests/`` is on ``sys.path`` (pytest inserts the directory of
``conftest.py``), so tests import them as ``from helpers.shapes import
regular_polygon``. Code shared with the benchmarks lives in
:mod:`mmdet_ext.testing` instead.
"""
