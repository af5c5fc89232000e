"""Check a prompt a person gave and name it in their words ("object 7 on frame 2"), not the batch's."""
from typing import Callable, Optional, Tuple, Union

from mmengine.structures import InstanceData

from seg.models.fastsam2 import PromptError, check_prompts

#: What a caller calls its prompt: a fixed name, or one per object index (None: the whole prompt).
PromptName = Union[str, Callable[[Optional[int]], str]]


def check_prompt(prompt: InstanceData, image_size: Tuple[int, int], name: PromptName) -> None:
    """Check one sample's ``prompts`` for FastSAM2 (see :func:`check_prompts`).

    Args:
        prompt: the K objects' fields (``points``, ``point_labels``, ``boxes``, ``masks``, ``texts``).
        image_size: (H, W) pixels of the image the prompt is given in.
        name: what the caller's user calls this prompt, e.g. ``'the prompt of object 7 on frame 2'``,
            or a function of the object's index in ``prompt`` (None when the problem is not one object's).

    Raises:
        PromptError: ``'<name>: <problem>; <fix>'``.
    """
    try:
        check_prompts([prompt], [image_size])
    except PromptError as err:
        if err.detail is None:
            raise
        where = name if isinstance(name, str) else name(err.obj)
        raise PromptError(f'{where}: {err.detail}', err.sample, err.obj, err.detail) from None
