"""Drawing of polar shapes (contours, ray origins, rays) for the demo,
``browse_dataset.py`` and any ``DetLocalVisualizer`` user."""
from .polar_drawing import (draw_origins, draw_polygon_outlines, draw_rays,
                            label_colors, object_rings)
from .polar_visualizer import PolarDetVisualizer

__all__ = [
    'PolarDetVisualizer', 'draw_polygon_outlines', 'draw_rays',
    'draw_origins', 'label_colors', 'object_rings'
]
