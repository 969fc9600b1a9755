"""Top-cost positive selection of PolarNeXt (``TopCostMatcher``)."""
import torch
from torch import Tensor

from mmdet.registry import TASK_UTILS


def focal_cost(cls_logits: Tensor, alpha: float = 0.25,
               gamma: float = 2.0, eps: float = 1e-8) -> Tensor:
    """DETR-style focal classification cost of a logit for its GT class.

    Args:
        cls_logits (Tensor): Logit of each pair's GT class, shape (M, ).
        alpha (float): Focal alpha.
        gamma (float): Focal gamma.
        eps (float): Log floor.

    Returns:
        Tensor: Cost (M, ), lower for a more confident correct class.
    """
    prob = cls_logits.float().sigmoid()
    pos = alpha * (1 - prob).pow(gamma) * (-(prob + eps).log())
    neg = (1 - alpha) * prob.pow(gamma) * (-(1 - prob + eps).log())
    return pos - neg


def polar_iou_cost(pred_rays: Tensor, target_rays: Tensor,
                   eps: float = 1e-6) -> Tensor:
    """log(sum max / sum min) of each pair's rays, shape (M, )."""
    total_max = torch.max(pred_rays, target_rays).sum(-1).clamp(min=eps)
    total_min = torch.min(pred_rays, target_rays).sum(-1).clamp(min=eps)
    return (total_max / total_min).log()


def dice_cost(soft_masks: Tensor, target_masks: Tensor,
              smooth: float = 1.0) -> Tensor:
    """1 - (2 sum(M M*) + s) / (sum M + sum M* + s) per pair, shape (M, )."""
    soft = soft_masks.flatten(1)
    target = target_masks.flatten(1)
    inter = (soft * target).sum(-1)
    return 1 - (2 * inter + smooth) / (soft.sum(-1) + target.sum(-1) + smooth)


@TASK_UTILS.register_module()
class TopCostMatcher:
    """Select, per object, the ``num_sample`` candidates of lowest cost.

    The cost of a candidate (point, object) pair is
    ``w_cls * focal + w_polar * polar IoU + w_dice * Dice``, the same terms as
    PolarNeXt's losses. Candidates come from centre sampling over all FPN
    levels, so the top-k is taken across levels.

    Unlike the official matcher, a point selected by several objects is kept
    only for its lowest-cost object (``exclusive=True``): the official one
    trains the point's rays towards every object that picked it while its
    class target is overwritten in undefined order.

    Args:
        num_sample (int): Positives per object. Defaults to 9.
        cls_weight (float): Weight of the focal cost.
        polar_weight (float): Weight of the polar IoU cost.
        dice_weight (float): Weight of the Dice cost.
        alpha (float): Focal alpha of the classification cost.
        gamma (float): Focal gamma of the classification cost.
        exclusive (bool): Resolve points claimed by several objects.
    """

    # The costs read the predictions (the target builder must provide them).
    uses_predictions = True

    def __init__(self,
                 num_sample: int = 9,
                 cls_weight: float = 1.0,
                 polar_weight: float = 1.0,
                 dice_weight: float = 1.0,
                 alpha: float = 0.25,
                 gamma: float = 2.0,
                 exclusive: bool = True) -> None:
        if num_sample < 1:
            raise ValueError(f'num_sample must be >= 1, got {num_sample}')
        self.num_sample = num_sample
        self.cls_weight = cls_weight
        self.polar_weight = polar_weight
        self.dice_weight = dice_weight
        self.alpha = alpha
        self.gamma = gamma
        self.exclusive = exclusive

    @torch.no_grad()
    def pair_costs(self, cls_logits: Tensor, pred_rays: Tensor,
                   target_rays: Tensor, soft_masks: Tensor,
                   target_masks: Tensor) -> Tensor:
        """Total matching cost of each candidate pair.

        Args:
            cls_logits (Tensor): Logit of the pair's GT class (M, ).
            pred_rays (Tensor): Predicted rays (M, K).
            target_rays (Tensor): Target rays (M, K).
            soft_masks (Tensor): Soft-rasterised predictions (M, R, R).
            target_masks (Tensor): Target crops (M, R, R).

        Returns:
            Tensor: Costs (M, ).
        """
        cost = self.cls_weight * focal_cost(cls_logits, self.alpha,
                                            self.gamma)
        if self.polar_weight:
            cost = cost + self.polar_weight * polar_iou_cost(
                pred_rays.float(), target_rays.float())
        if self.dice_weight:
            cost = cost + self.dice_weight * dice_cost(
                soft_masks.float(), target_masks.float())
        return cost

    @torch.no_grad()
    def select(self, costs: Tensor, pair_gt: Tensor,
               pair_point: Tensor) -> Tensor:
        """Indices of the selected pairs.

        Args:
            costs (Tensor): Cost of each candidate pair (M, ).
            pair_gt (Tensor): Object index of each pair (M, ), long.
            pair_point (Tensor): Point index of each pair (M, ), long.

        Returns:
            Tensor: Long indices into the M pairs, sorted ascending.
        """
        if costs.numel() == 0:
            return costs.new_zeros((0, ), dtype=torch.long)
        # Non-finite costs (never expected) rank last instead of poisoning the sort.
        costs = torch.nan_to_num(costs.float(), nan=1e8, posinf=1e8)
        keep = self._topk_per_group(costs, pair_gt, self.num_sample)
        if self.exclusive:
            keep = keep[self._topk_per_group(costs[keep], pair_point[keep],
                                             1)]
        return keep.sort().values

    @staticmethod
    def _topk_per_group(costs: Tensor, groups: Tensor, k: int) -> Tensor:
        """Indices of the k lowest costs within each group (vectorised)."""
        by_cost = costs.argsort(stable=True)
        by_group = groups[by_cost].argsort(stable=True)
        order = by_cost[by_group]  # grouped, cost-ascending inside a group
        sorted_groups = groups[order]
        is_start = torch.ones_like(sorted_groups, dtype=torch.bool)
        is_start[1:] = sorted_groups[1:] != sorted_groups[:-1]
        positions = torch.arange(len(order), device=costs.device)
        group_start = torch.cummax(
            torch.where(is_start, positions, torch.zeros_like(positions)),
            dim=0).values
        rank = positions - group_start
        return order[rank < k]
