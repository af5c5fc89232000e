# E2FGVI-HQ trained as the official configs/train_e2fgvi_hq.json: the recipe of
# e2fgvi_500k.py (the two official configs differ only in the network) with the
# HQ generator, which runs at any size divisible by (60, 108).
# Fine-tune from the released weights with
#   --partial-load --cfg-options load_from=checkpoints/E2FGVI-HQ-CVPR22.pth
_base_ = ['./e2fgvi_500k.py']

model = dict(generator=dict(type='E2FGVIHQGenerator'))
