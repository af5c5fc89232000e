# TMO (ResNet-101, official TMO_rn101.pth) on DAVIS-16 val as the official test runs it: the DAVIS root of
# TMO's pre-processed data (`ImageSets/2016/val.txt`, `JPEGImages/480p`, `Annotations/480p` with all
# objects merged into one foreground, RAFT flow images in `JPEGFlows/480p`, one per frame), frames and
# flow images resized to 384x384 (bicubic), logits back to the frame size, argmax; AOS off as in run.py
# (`--cfg-options model.network.aos=True` turns it on). J&F as DAVIS-2016 (`DAVISMetric(task='binary')`).
#   python tools/test.py configs/tmo/tmo_davis16.py checkpoints/TMO_rn101.pth
# The DAVIS 2016 release works too: dataset.layout='davis2016' (ImageSets/480p/val.txt, grey masks).
# Without flow images (dataset.flow_dir=None) TMOVOS computes OpenCV DIS flow (model.flow) instead of
# RAFT's, which TMO was trained on: expect lower scores than the paper's.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/DAVIS/'

model = dict(
    type='TMOVOS',
    network=dict(aos=False, input_size=384),
    flow=dict(preset='medium', last_frame='backward', size=None))

test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='video_collate'),
    dataset=dict(type='DAVIS16EvalDataset', data_root=data_root, split='val', layout='davis2017', year='2016',
                 flow_dir='JPEGFlows/480p'))
test_evaluator = dict(type='DAVISMetric', task='binary')
test_cfg = dict(type='TestLoop')
val_dataloader = test_dataloader
val_evaluator = test_evaluator
val_cfg = dict(type='ValLoop')

load_from = 'checkpoints/TMO_rn101.pth'
default_hooks = dict(logger=dict(type='LoggerHook', interval=5))
log_processor = dict(by_epoch=False)
