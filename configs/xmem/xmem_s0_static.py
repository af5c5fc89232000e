# XMem stage 0: pretraining on static images, each image+mask warped into a clip of 3 frames
# (StaticClipDataset), the official hyper-parameters (util/configuration.py, train.py, model/trainer.py):
# AdamW lr 1e-5, weight decay 0.05, batch 16 in all, 150k iterations with no lr step (gamma 0.1 unused),
# bootstrapped CE annealed over 20k-70k iterations to the hardest 15 % of pixels, + soft dice; 2 memory
# frames, deep update p = 0.2; one object per clip and the single-object value encoder (4-channel input);
# 384x384 crops; BatchNorm frozen. Stage 2/3 (xmem_s03_davis_ytvos.py) then starts from these weights; its
# value encoder's first conv has one more input channel ("other objects"), zero-padded when the weights load
# (load_from = this run's checkpoint).
#
# Data: XMem's scripts/download_datasets.py fetches static_data.zip (Google Drive id
# 1wUJq3HcLdN-z1t4CsUhjeZ9BVDb9YKLd); unzip it into data/static/ to get fss/ (FSS-1000, <class>/<n>.jpg +
# <n>.png), DUTS-TR/, DUTS-TE/, ecssd/, BIG_small/, HRSOD_small/ (<name>.jpg next to <name>.png). Originals:
# DUTS http://saliencydetection.net/duts, ECSSD https://www.cse.cuhk.edu.hk/leojia/projects/hsaliency/,
# FSS-1000 https://github.com/HKUSTCV/FSS-1000, HRSOD https://github.com/yi94code/HRSOD, BIG
# https://github.com/hkchengrex/CascadePSP; with the original DUTS folders use
# dict(image_dir='.../DUTS-TR/DUTS-TR-Image', mask_dir='.../DUTS-TR/DUTS-TR-Mask') as the data_roots entry.
# Kept: the datasets and their weights (BIG and HRSOD x5), every hyper-parameter above. Scaled / changed: the
# batch is per process (use 16 // number of GPUs); mixed precision, used by the official trainer, is off
# (as in xmem_s03_davis_ytvos.py; AmpOptimWrapper would add it); no validation (the official stage 0 has
# none: run tools/test.py on DAVIS 2017 val with the test_dataloader below).
_base_ = ['./xmem_toy.py']

static_root = 'data/static/'
davis_root = 'data/DAVIS/2017/trainval/'
max_iters = 150000
clip = dict(type='StaticClipDataset', num_frames=3, max_num_obj=1, crop_size=(384, 384))

model = dict(network=dict(single_object=True), loss_ce=dict(start_warm=20000, end_warm=70000, top_p=0.15),
             num_ref_frames=2, deep_update_prob=0.2)
train_dataloader = dict(
    batch_size=16,  # per process: divide by the number of GPUs, as the official effective batch of 16
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
        dict(clip, data_roots=[dict(image_dir=static_root + 'fss', recursive=True)]),
        dict(clip, data_roots=[static_root + 'DUTS-TR', static_root + 'DUTS-TE']),
        dict(clip, data_roots=[static_root + 'ecssd']),
        dict(clip, data_roots=[static_root + 'BIG_small'], repeat=5),
        dict(clip, data_roots=[static_root + 'HRSOD_small'], repeat=5)]))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = dict(dataset=dict(data_root=davis_root))
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-5, weight_decay=0.05))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[], gamma=0.1)]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=25000, max_keep_ckpts=3))
