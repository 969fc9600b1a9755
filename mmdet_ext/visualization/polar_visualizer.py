"""``DetLocalVisualizer`` that also draws polar shapes.

MMDetection's visualiser draws boxes, labels with scores and filled masks.
For a polar model the contour it predicts, and the rays that span it, are
what a researcher wants to check; for the ground truth, the ray origin and
the ray targets the head will learn. On top of what the parent draws, this
visualiser reads three optional fields of the instances:

- ``polygons``: dense (N, K, 2) predicted contours, or a list (N) of
  objects, each a ring or a list of rings (multi-part GT);
- ``origins``: ray origins (N, 2);
- ``ray_ends``: ray end points (N, K, 2); for predictions the contour
  vertices are the ray ends, so ``polygons`` is used when it is dense.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.structures import InstanceData

from mmdet.registry import VISUALIZERS
from mmdet.visualization import DetLocalVisualizer
from mmdet.visualization.palette import get_palette
from .polar_drawing import (draw_origins, draw_polygon_outlines, draw_rays,
                            label_colors)


@VISUALIZERS.register_module()
class PolarDetVisualizer(DetLocalVisualizer):
    """Detection visualiser with polygon outlines, ray origins and rays.

    Args:
        name (str): Instance name (mmengine's visualiser manager).
        draw_polygons (bool): Outline ``polygons`` in the class colour.
        draw_rays (bool): Draw each instance's rays from its origin (needs
            ``origins``, and ``ray_ends`` or dense ``polygons``).
        draw_origins (bool, optional): Draw the ray origins; defaults to
            ``draw_rays``.
        polygon_line_width (float): Outline width in pixels.
        ray_line_width (float): Ray width in pixels.
        origin_radius (float): Radius of the origin dots in pixels.
        **kwargs: ``DetLocalVisualizer`` arguments.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 draw_polygons: bool = True,
                 draw_rays: bool = False,
                 draw_origins: Optional[bool] = None,
                 polygon_line_width: float = 2.0,
                 ray_line_width: float = 0.8,
                 origin_radius: float = 3.0,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.draw_polygon_outlines = draw_polygons
        self.draw_ray_lines = draw_rays
        self.draw_ray_origins = draw_rays if draw_origins is None \
            else draw_origins
        self.polygon_line_width = polygon_line_width
        self.ray_line_width = ray_line_width
        self.origin_radius = origin_radius
        self.missing_fields: List[str] = []

    def _draw_instances(self, image: np.ndarray, instances: InstanceData,
                        classes: Optional[List[str]],
                        palette: Optional[List[tuple]]) -> np.ndarray:
        """Parent drawing, then outlines, rays and origins on top."""
        image = super()._draw_instances(image, instances, classes, palette)
        if len(instances) == 0 or 'labels' not in instances:
            return image
        self.set_image(image)
        colors = self._instance_colors(instances.labels, palette)
        if self.draw_polygon_outlines and 'polygons' in instances:
            draw_polygon_outlines(self, instances.polygons, colors,
                                  self.polygon_line_width)
        ends = self._ray_ends(instances)
        if self.draw_ray_lines and ends is not None:
            draw_rays(self, instances.origins, ends, colors,
                      self.ray_line_width)
        if self.draw_ray_origins and 'origins' in instances:
            draw_origins(self, instances.origins, colors, self.origin_radius)
        return self.get_image()

    def _instance_colors(self, labels, palette: Optional[Sequence]
                         ) -> List[Tuple[int, int, int]]:
        """The parent's box colour of each label."""
        labels = np.asarray(labels.cpu() if hasattr(labels, 'cpu') else
                            labels).astype(np.int64)
        max_label = int(labels.max()) if len(labels) else 0
        color = palette if self.bbox_color is None else self.bbox_color
        return label_colors(labels, get_palette(color, max_label + 1))

    def _ray_ends(self, instances: InstanceData):
        """``ray_ends``, else dense ``polygons``; None (noted once in
        :attr:`missing_fields`) when rays cannot be drawn."""
        if not self.draw_ray_lines:
            return None
        if 'origins' not in instances:
            self._note_missing('origins')
            return None
        if 'ray_ends' in instances:
            return instances.ray_ends
        polygons = instances.get('polygons', None)
        if polygons is not None and hasattr(polygons, 'shape') and \
                len(polygons.shape) == 3:
            return polygons
        self._note_missing('ray_ends')
        return None

    def _note_missing(self, field: str) -> None:
        if field not in self.missing_fields:
            self.missing_fields.append(field)
