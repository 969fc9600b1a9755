from .base_polar_head import BasePolarHead
from .solov2_fine_mask_loss_head import SOLOV2FineMaskLossHead
from .solov2_min_area_head import SOLOV2MinAreaHead

__all__ = ['BasePolarHead', 'SOLOV2FineMaskLossHead', 'SOLOV2MinAreaHead']
