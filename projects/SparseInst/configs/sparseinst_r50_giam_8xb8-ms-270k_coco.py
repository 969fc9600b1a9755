# SparseInst R-50 G-IAM (the official default decoder: 4 grouped activation maps per
# instance); schedule and data as the IAM config. Official 33.4 mask AP val2017 with the
# test short side 608; this config tests at 640 like the IAM one (608:
# --cfg-options "test_dataloader.dataset.pipeline.1.scale=(853,608)").
_base_ = './sparseinst_r50_iam_8xb8-ms-270k_coco.py'

model = dict(decoder=dict(type='GroupIAMDecoder', num_groups=4))
