# Ablation ladder, rung 1: PolarMask with PolarNeXt's assignment. Candidates come from
# centre sampling on every level (no regress ranges; candidate-less tiny objects get one
# point) and the top-cost matcher keeps the 9 lowest focal + polar IoU + Dice costs per
# object (its Dice cost needs the soft-rasterised candidates; the losses are unchanged).
_base_ = '../polarmask_r50_fpn_1x_coco.py'

model = dict(
    bbox_head=dict(
        target_builder=dict(
            regress_ranges=None,
            fallback_candidate=True,
            mask_target_parts='all',
            mask_size=64,
            tau=0.1,
            matcher=dict(type='TopCostMatcher', num_sample=9))))
