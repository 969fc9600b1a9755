from .polar_iou_loss import PolarIoULoss, polar_iou_loss

__all__ = ['PolarIoULoss', 'polar_iou_loss']
