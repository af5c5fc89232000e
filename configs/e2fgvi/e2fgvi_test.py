# Evaluate an E2FGVI checkpoint as the official evaluate.py: whole YouTube-VOS
# test videos at 432x240 with their fixed masks (data/youtube-vos/test_masks),
# windows every 5 frames with every 10th frame as reference, PSNR / SSIM per
# frame, and VFID when the I3D weights below exist (skipped with a logged
# message otherwise).
#   python tools/test.py configs/e2fgvi/e2fgvi_test.py CKPT
# CKPT: one of our training checkpoints, or the released E2FGVI-CVPR22.pth
# (a bare generator state_dict loads into model.generator).
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/youtube-vos/'
i3d_path = 'checkpoints/i3d_rgb_imagenet.pt'
frame_size = (432, 240)  # (w, h) px

# Inference needs only the generator; its SPyNet weights come with the checkpoint.
model = dict(
    type='VideoInpaintingGAN',
    data_preprocessor=dict(type='VideoInpaintingDataPreprocessor'),
    generator=dict(type='E2FGVIGenerator'),
    flow_weight=0.0,
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
        type='VideoInpaintingDataset',
        data_root=data_root,
        ann_file='test.json',
        frame_dir='JPEGImages',
        mask_dir='test_masks',
        size=frame_size,
        test_mode=True))
test_evaluator = dict(type='VideoInpaintingMetric', i3d_weights=i3d_path)
test_cfg = dict(type='TestLoop')

log_processor = dict(by_epoch=False)
