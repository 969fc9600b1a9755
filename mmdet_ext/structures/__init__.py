from .polygons import DROP_REASONS, PolygonTensor, regular_polygon

__all__ = ['PolygonTensor', 'DROP_REASONS', 'regular_polygon']
