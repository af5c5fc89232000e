# e2fgvi_test.py for E2FGVI-HQ checkpoints (e.g. the released E2FGVI-HQ-CVPR22.pth),
# evaluated at the same 432x240 as the paper's tables.
_base_ = ['./e2fgvi_test.py']

model = dict(generator=dict(type='E2FGVIHQGenerator'))
