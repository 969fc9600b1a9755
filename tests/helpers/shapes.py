"""Exact shapes for tests (random ones: :mod:`mmdet_ext.testing`)."""
import math
from typing import Tuple

import numpy as np


def regular_polygon(num_sides: int,
                    radius: float = 1.0,
                    center: Tuple[float, float] = (0.0, 0.0),
                    rotation: float = 0.0) -> np.ndarray:
    """Flat coordinates of a regular polygon.

    Args:
        num_sides (int): Number of vertices (>= 3).
        radius (float): Circumradius.
        center (tuple[float, float]): Centre (x, y).
        rotation (float): Angle of vertex 0 in radians (0 along +x, y down).

    Returns:
        np.ndarray: Flat float64 array ``[x0, y0, x1, y1, ...]``, (2 V, ).
    """
    angles = rotation + 2 * math.pi * np.arange(num_sides) / num_sides
    xy = np.stack([
        center[0] + radius * np.cos(angles),
        center[1] + radius * np.sin(angles)
    ], axis=1)
    return xy.reshape(-1)
