# Panoptic (PQ) evaluation of RAP-SAM on COCO val2017 with the COCO
# vocabulary (80 things + 53 stuff):
#   python tools/test.py configs/rapsam/eval_rapsam_coco.py checkpoints/rapsam_r50_12e.pth
# The class embeddings come from
#   python tools/gen_cls.py configs/rapsam/eval_rapsam_coco.py --split test --clip-model convnext_large_d_320 \
#       --clip-checkpoint PATH --out checkpoints/class_embeddings/convnext_large_d_320_CocoPanopticDataset.pth
_base_ = ['./rapsam_r50_12e_adaptor.py', '../_base_/datasets/coco_panoptic.py']

num_things_classes = 80
num_stuff_classes = 53
model = dict(
    backbone=dict(init_cfg=None),
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        class_embed_path='checkpoints/class_embeddings/convnext_large_d_320_CocoPanopticDataset.pth'),
    panoptic_fusion_head=dict(num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes))
test_dataloader = dict(batch_size=1)
val_cfg = dict(_delete_=True, type='ValLoop')
test_cfg = dict(_delete_=True, type='TestLoop')
