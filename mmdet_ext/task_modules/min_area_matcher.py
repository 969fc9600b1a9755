"""FCOS's rule for points inside several objects: the smallest object wins."""
import torch
from torch import Tensor

from mmdet.registry import TASK_UTILS
from .top_cost_matcher import TopCostMatcher


@TASK_UTILS.register_module()
class MinAreaMatcher:
    """Keep every candidate point, each for its smallest-area object.

    This is the assignment of FCOS and PolarMask: all candidate (point,
    object) pairs that pass centre sampling and the regress range are
    positives, and a point claimed by several objects goes to the one with
    the smallest box area. It does not look at the predictions
    (``uses_predictions = False``), so the target builder skips the
    prediction-dependent costs.
    """

    uses_predictions = False

    @torch.no_grad()
    def select(self, areas: Tensor, pair_gt: Tensor,
               pair_point: Tensor) -> Tensor:
        """Indices of the selected pairs.

        Args:
            areas (Tensor): Box area of each pair's object (M, ).
            pair_gt (Tensor): Object index of each pair (M, ), long.
            pair_point (Tensor): Point index of each pair (M, ), long.

        Returns:
            Tensor: Long indices into the M pairs, sorted ascending.
        """
        if areas.numel() == 0:
            return areas.new_zeros((0, ), dtype=torch.long)
        # Ties (equal areas) go to the lower object index, deterministically.
        keep = TopCostMatcher._topk_per_group(areas.float(), pair_point, 1)
        return keep.sort().values
