"""Tag a sample with the task it trains."""
from mmcv.transforms import BaseTransform

from seg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SetDataTag(BaseTransform):
    """Mark a sample with the task it trains: ``results['data_tag'] = tag``.

    RapSAM trains prompt queries on ``'sam'`` samples and object queries on the
    others; pack the tag with ``PackDetInputs(meta_keys=(..., 'data_tag'))``.
    """

    def __init__(self, tag: str):
        self.tag = tag

    def transform(self, results: dict) -> dict:
        results['data_tag'] = self.tag
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(tag={self.tag!r})'
