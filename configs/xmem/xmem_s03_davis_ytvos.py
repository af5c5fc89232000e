# XMem stage 3 (and 2): DAVIS 2017 train (×5) + YouTube-VOS 2019 train, clips of 8 frames, the official
# hyper-parameters (util/configuration.py, train.py): AdamW lr 1e-5, weight decay 0.05, batch 8 in all,
# 100k iterations with the lr ×0.1 at 80k (stage 2: 150k, step 120k), bootstrapped CE annealed over
# 20k-70k iterations to the hardest 15 % of pixels, + soft dice; 3 memory frames, deep update p = 0.2;
# frame-gap curriculum 5 -> 10 (10 %) -> 15 (30 %) -> 5 (90 %) of the 100k; BatchNorm frozen; then the
# official 10k fine-tuning iterations (110k in all) without the per-frame rotation/shear. Start from a
# stage-0 run (load_from=its checkpoint) or released weights (model.pretrained=checkpoints/XMem-s012.pth).
_base_ = ['./xmem_toy.py']

davis_root = 'data/DAVIS/2017/trainval/'
ytvos_root = 'data/YouTube/train_480p/'
iterations = 100000
finetune_iters = 10000
max_iters = iterations + finetune_iters
clip = dict(type='VOSClipDataset', num_frames=8, max_jump=5, max_num_obj=3, crop_size=(384, 384))

model = dict(loss_ce=dict(start_warm=20000, end_warm=70000, top_p=0.15), num_ref_frames=3)
train_dataloader = dict(
    batch_size=8,  # per process: divide by the number of GPUs, as the official effective batch of 8
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=5, dataset=dict(clip, data_root=davis_root, layout='davis')),
        dict(clip, data_root=ytvos_root, layout='ytvos', split='.')]))
val_dataloader = dict(dataset=dict(data_root=davis_root))
test_dataloader = val_dataloader
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-5, weight_decay=0.05))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[80000], gamma=0.1)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
custom_hooks = [
    dict(type='MaxSkipCurriculumHook', fractions=(0.1, 0.3, 0.9), max_skips=(10, 15, 5), initial=5,
         schedule_iters=iterations),
    dict(type='FinetunePhaseHook', start_iter=iterations)]
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=10000, max_keep_ckpts=3))
