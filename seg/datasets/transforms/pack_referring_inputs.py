"""Pack a referring-segmentation sample: ``PackDetInputs`` plus the sentence as ``data_samples.prompts``."""
from mmdet.datasets.transforms import PackDetInputs
from mmengine.structures import InstanceData

from seg.registry import TRANSFORMS

#: ``PackDetInputs``'s meta keys and the ids that say which ref, object and sentence a sample is.
REFERRING_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
                       'ref_id', 'ann_id', 'sent_id')


@TRANSFORMS.register_module()
class PackReferringInputs(PackDetInputs):
    """``PackDetInputs``, then the sentence ``results['text']`` (str) as ``data_samples.prompts``.

    The packed ``data_samples`` (a ``DetDataSample``) gets ``prompts = InstanceData(texts=[text])``:
    one prompt (K = 1) whose ``texts`` is a list of one str; ``gt_instances`` (bboxes, labels, masks)
    hold its object, as ``PackDetInputs`` makes them.

    Args:
        meta_keys: Keys of ``results`` copied into the data sample's metainfo
            (default :data:`REFERRING_META_KEYS`).
    """

    def __init__(self, meta_keys=REFERRING_META_KEYS):
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        text = results.get('text')
        if not isinstance(text, str):
            raise KeyError(f'PackReferringInputs needs the sentence as results["text"] (a str), got {text!r}; '
                           'RefCOCODataset sets it')
        packed = super().transform(results)
        packed['data_samples'].prompts = InstanceData(texts=[text])
        return packed
