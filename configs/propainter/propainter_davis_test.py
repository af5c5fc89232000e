# Evaluate a ProPainter checkpoint as the official scripts/evaluate_propainter.py
# (video completion): whole DAVIS test videos at 432x240 with their fixed masks
# (data/davis/test_masks/<vid>/*.png, the official datasets/davis/test.json),
# flows of the whole video by RAFT (20 iterations) unless the dataset loads
# precomputed ones, completed by the flow completion net, pixels propagated, then
# windows of 11 local frames (neighbor_length 10 -> stride 5) with every 10th
# frame as reference; PSNR / SSIM per frame, and VFID when the I3D weights exist
# (skipped with a logged message otherwise). Per-video and overall table in the log.
#   python tools/test.py configs/propainter/propainter_davis_test.py CKPT
# CKPT: a train_propainter.py checkpoint, or the released ProPainter.pth (a bare
# generator state_dict loads into model.generator). RAFT and flow completion come
# from the files below (ProPainter release v0.1.0).
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/davis/'
raft_checkpoint = 'checkpoints/propainter/raft-things.pth'
flow_completion_checkpoint = 'checkpoints/propainter/recurrent_flow_completion.pth'
i3d_path = 'checkpoints/i3d_rgb_imagenet.pt'
frame_size = (432, 240)  # (w, h) px

model = dict(
    type='ProPainterGAN',
    data_preprocessor=dict(type='VideoInpaintingDataPreprocessor'),
    generator=dict(type='ProPainterGenerator'),
    discriminator=None,
    flow_completion=dict(type='RecurrentFlowCompleteNet'),
    flow_completion_checkpoint=flow_completion_checkpoint,
    flow_estimator=dict(type='BidirectionalRAFT', raft=dict(type='RAFT', small=False), iters=20),
    raft_checkpoint=raft_checkpoint,
    propagation_interpolation='nearest',
    neighbor_stride=5,
    ref_stride=10,
    num_ref=-1)

# Whole videos differ in length: one per batch.
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ProPainterDataset',
        data_root=data_root,
        ann_file='test.json',
        frame_dir='JPEGImages_432_240',
        mask_dir='test_masks',
        size=frame_size,
        test_mode=True))
test_evaluator = dict(type='VideoInpaintingMetric', i3d_weights=i3d_path)
test_cfg = dict(type='TestLoop')

log_processor = dict(by_epoch=False)
