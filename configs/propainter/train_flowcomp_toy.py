# ProPainter stage 1 (train_flowcomp.py) scaled down to the toy ProPainter data so
# that it trains and validates on a CPU in a few minutes:
#   python tools/data/make_toy_data.py --layouts propainter
#   python tools/data/compute_flow.py data/toy/propainter/JPEGImages_432_240 data/toy/propainter/Flows_flo
#   python tools/train.py configs/propainter/train_flowcomp_toy.py
# (4 training and 2 test videos of 20 frames at 120x216).
#
# Ground-truth flows: precomputed OpenCV DIS flows (compute_flow.py without --raft)
# loaded by the dataset, not a RAFT. DIS flows follow the toy objects' real motion,
# so completing them inside the holes is a meaningful task; a RAFT with random
# weights (the release file may be absent) would give flows unrelated to motion,
# and RAFT on a CPU would cost more than the completion net itself.
#
# Training clips: 4 local frames, no references (stage 1 uses the local frames
# only), resized to 112x64 (the flows with them, vectors rescaled), batch 1; each
# training video always gives the same clip and holes (dataset seed). The
# official optimiser, schedule shape and loss weights are kept; only the
# iterations shrink. Validation: whole toy test videos at their own 216x120 with
# free-form holes fixed by seed (the toy's test_masks cover each moving object in
# every frame, so the flow under them is never seen), end-point error on the
# holes (FlowCompletionMetric).
#
# Measured once on 2 CPU cores shared with other jobs (OMP_NUM_THREADS=2): 8-17 s an
# iteration, ~20 min in all; hole EPE of the toy test videos 2.68 px untrained ->
# 2.36 px after 100 iterations (loss_flow 0.64 -> 0.33-0.37).
_base_ = ['./train_flowcomp.py']

data_root = 'data/toy/propainter/'
flow_dir = 'Flows_flo'
frame_size = (112, 64)  # (w, h) px, training
test_frame_size = (216, 120)  # (w, h) px, the toy data's size
num_local_frames = 4
max_iters = 100

model = dict(flow_estimator=None, raft_checkpoint=None, num_local_frames=num_local_frames)

train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        flow_dir=flow_dir,
        size=frame_size,
        num_local_frames=num_local_frames,
        num_ref_frames=0,
        seed=0))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ProPainterDataset',
        data_root=data_root,
        ann_file='test.json',
        flow_dir=flow_dir,
        mask_dir=None,
        seed=0,
        size=test_frame_size,
        test_mode=True))
val_cfg = dict(type='ValLoop')
val_evaluator = dict(type='FlowCompletionMetric')
test_dataloader = val_dataloader
test_cfg = dict(type='TestLoop')
test_evaluator = val_evaluator

param_scheduler = [dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[max_iters],
                        gamma=0.2)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, save_last=True))
log_processor = dict(window_size=1)
randomness = dict(seed=0)
