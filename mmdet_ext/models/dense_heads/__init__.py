from .base_polar_head import BasePolarHead

__all__ = ['BasePolarHead']
