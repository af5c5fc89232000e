# XMem on YouTube-VOS 2019 valid, as the official evaluation runs it (eval.py --dataset Y19): every frame of
# valid_all_frames is tracked, frames processed with the shorter side at 480 and written back at the input size,
# objects added on the frame whose annotation first shows them; only the frames of valid/JPEGImages are written,
# as palette PNGs with the input palette, and zipped for the server:
#   python tools/test.py configs/xmem/xmem_ytvos19_valid.py checkpoints/XMem.pth
#   -> work_dirs/xmem_ytvos19_valid/submission.zip (upload to the YouTube-VOS 2019 CodaLab server)
# Data (official names): data/YouTube2019/valid/{JPEGImages,Annotations,meta.json} and
# data/YouTube2019/all_frames/valid_all_frames/JPEGImages.
_base_ = ['./xmem_s03_davis_ytvos.py']

ytvos_valid_root = 'data/YouTube2019/'
out_dir = 'work_dirs/xmem_ytvos19_valid/'

model = dict(inference=dict(max_internal_size=480))
test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='video_collate'),
    dataset=dict(type='YTVOSEvalDataset', data_root=ytvos_valid_root, split='valid',
                 all_frames_root=ytvos_valid_root + 'all_frames/valid_all_frames'))
test_evaluator = dict(_delete_=True, type='YTVOSSubmissionMetric', out_dir=out_dir)
