# TMO evaluated on the toy DAVIS split (`python tools/data/make_toy_data.py --layouts davis`: 2 validation
# sequences of 12 frames at 96x160, several objects merged into one foreground) on CPU in seconds: 128x128
# network input, DIS flow computed from the frames (the toy data has no flow images). There is no training
# recipe; pass any TMO checkpoint (official names or a TMOVOS state dict), e.g. a random initialisation:
#   python -c "import torch, seg; from seg.models.tmo import TMO; torch.save(TMO().state_dict(), '/tmp/tmo.pth')"
#   python tools/test.py configs/tmo/tmo_toy.py /tmp/tmo.pth
_base_ = ['./tmo_davis16.py']

data_root = 'data/toy/davis/'

model = dict(network=dict(input_size=128))

test_dataloader = dict(
    num_workers=0,
    dataset=dict(data_root=data_root, year='2017', flow_dir=None))
val_dataloader = test_dataloader
load_from = None
default_hooks = dict(logger=dict(interval=1))
