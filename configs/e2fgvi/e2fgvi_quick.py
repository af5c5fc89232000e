# A quick check of the E2FGVI recipe on real data: 100 iterations on three
# YouTube-VOS videos, the loss terms logged every iteration.
# data/youtube-vos/train_small.json holds three {vid: num_frames} entries of
# train.json, e.g.
#   python -c "import json; d = json.load(open('data/youtube-vos/train.json')); \
#     json.dump(dict(list(d.items())[:3]), open('data/youtube-vos/train_small.json', 'w'))"
_base_ = ['./e2fgvi_500k.py']

max_iters = 100
train_dataloader = dict(dataset=dict(ann_file='train_small.json'))
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=50, save_last=True))
log_processor = dict(window_size=1)
