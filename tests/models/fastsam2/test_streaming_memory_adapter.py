"""StreamingMemoryAdapter: streaming equals training, bounded memory, objects coming and going, gradients, devices.

The first tests check its bookkeeping, ``ObjectMemory``, without a network.
"""
import pytest
import torch

from seg.models.fastsam2 import StreamingMemoryAdapter
from seg.models.fastsam2.object_memory import ObjectMemory
from seg.registry import MODELS

C, H, W = 16, 8, 8


def adapter(**kwargs) -> StreamingMemoryAdapter:
    torch.manual_seed(0)
    return StreamingMemoryAdapter(C, **kwargs)


def features(num_frames: int, seed: int = 1) -> torch.Tensor:
    """(T, C, H, W) random frame features; scaled so mask logits are not all saturated."""
    return torch.randn(num_frames, C, H, W, generator=torch.Generator().manual_seed(seed)) / C**0.5


def queries(num_objects: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(num_objects, C, generator=torch.Generator().manual_seed(seed))


def stream(model: StreamingMemoryAdapter, feats: torch.Tensor, prompts_at=None, remove_at=None, decode=None):
    """reset(), then step() over ``feats``; per frame (ids, mask logits). ``*_at``: frame → prompts / ids."""
    model.reset()
    out = []
    with torch.no_grad():
        for t, frame in enumerate(feats):
            out.append(model.step(frame, (prompts_at or {}).get(t), (remove_at or {}).get(t, ()), decode=decode))
    return out


def entry_memory(num_short, num_long, rows):
    """ObjectMemory fed entries whose query and pooled feature are the given (C=2) rows."""
    memory = ObjectMemory(num_short, num_long)
    for row in rows:
        memory.write(torch.tensor(row, dtype=torch.float32), torch.tensor(row, dtype=torch.float32))
    return memory


def test_fifo_keeps_the_last_entries_and_fills_long_slots_in_order():
    memory = entry_memory(2, 3, [[1, 0], [2, 0], [3, 0], [4, 0]])
    assert len(memory) == 4 and torch.equal(memory.query, torch.tensor([4., 0]))
    assert torch.equal(memory.entries()[:, 0, 0], torch.tensor([1., 2, 3, 4]))  # long slots, then the FIFO
    assert torch.equal(memory.long_counts, torch.tensor([1, 1]))


def test_evicted_entries_merge_into_the_most_similar_slot_as_a_running_mean():
    memory = entry_memory(1, 2, [[1, 0], [0, 1], [5, 0], [3, 0], [0, 7]])
    # [1,0] and [0,1] took the slots; [5,0] and [3,0] merged into the first (mean 3); [0,7] is still short-term.
    assert len(memory) == 3
    assert torch.allclose(memory.long[:, 0], torch.tensor([[3., 0], [0, 1]]))
    assert torch.equal(memory.long_counts, torch.tensor([3, 1]))
    dropped = entry_memory(2, 0, [[1, 0], [2, 0], [3, 0]])
    assert len(dropped) == 2 and torch.equal(dropped.entries()[:, 0, 0], torch.tensor([2., 3]))


def test_registered_and_config_checked():
    assert MODELS.get('StreamingMemoryAdapter') is StreamingMemoryAdapter
    with pytest.raises(ValueError, match='num_short'):
        StreamingMemoryAdapter(C, num_short=0, num_long=0)


def refine_decode(queries, frame_feats):
    """A decode that changes the queries (so the memory holds refined, not input, queries)."""
    refined = torch.tanh(queries + frame_feats.mean((1, 2)))
    return refined, torch.einsum('kc,chw->khw', refined, frame_feats)


@pytest.mark.parametrize('decode', [None, refine_decode])
def test_streaming_equals_training_forward(decode):
    model = adapter(num_short=2, num_long=2)  # 8 frames: the long slots fill, then merge
    feats, init = features(8), queries(3)
    trained = model(feats, init, decode=decode)
    assert trained.shape == (8, 3, H, W) and trained.requires_grad
    streamed = stream(model, feats, {0: dict(enumerate(init))}, decode=decode)
    assert all(ids == [0, 1, 2] for ids, _ in streamed)
    assert torch.equal(trained.detach(), torch.stack([logits for _, logits in streamed]))


def test_streaming_memory_is_detached_and_bounded():
    model = adapter(num_short=4, num_long=4)
    init = queries(3).requires_grad_()
    model.reset()
    for t, frame in enumerate(features(50)):
        model.step(frame, dict(enumerate(init)) if t == 0 else None)
    for obj_id in range(3):
        assert model.memory_size(obj_id) == 8
        assert model.memory_entries(obj_id).shape == (8, 2, C)
        assert not model.memory_entries(obj_id).requires_grad


def test_objects_come_and_go_without_touching_the_others():
    model = adapter(num_short=2, num_long=2)
    feats, init = features(9), queries(5)
    others = {obj_id: init[obj_id] for obj_id in range(1, 5)}  # K = 5 on frames 3, 4
    alone = stream(model, feats, {0: {0: init[0]}})
    both = stream(model, feats, {0: {0: init[0]}, 3: others}, remove_at={5: range(1, 5)})
    assert [ids for ids, _ in both] == [[0]] * 3 + [[0, 1, 2, 3, 4]] * 2 + [[0]] * 4
    for (_, a), (ids, b) in zip(alone, both):
        assert torch.equal(a[0], b[ids.index(0)])
    late = stream(model, feats[3:5], {0: {1: init[1]}})
    for (_, b), (_, late_b) in zip(both[3:5], late):
        assert torch.equal(b[1], late_b[0])


def test_reprompt_replaces_the_query_and_keeps_the_memory():
    model = adapter()
    feats, init = features(6), queries(2)
    plain = stream(model, feats, {0: {0: init[0]}})
    model.reset()
    with torch.no_grad():
        for frame in feats[:4]:
            model.step(frame, {0: init[0]} if not model.object_ids else None)
        size = model.memory_size(0)
        ids, logits = model.step(feats[4], {0: init[1]})
        assert ids == [0] and model.memory_size(0) == size + 1
        assert torch.equal(logits[0], torch.einsum('c,chw->hw', init[1], feats[4]))
        assert torch.equal(model.memory_entries(0)[-1, 0], init[1])
        assert not torch.equal(logits, plain[4][1])


def test_removing_an_unknown_object_raises_and_removes_nothing():
    model = adapter()
    model.step(features(1)[0], {0: queries(1)[0]})
    with pytest.raises(KeyError, match='7'):
        model.step(features(1)[0], remove=[0, 7])
    assert model.object_ids == [0] and model.memory_size(0) == 1
    ids, logits = model.step(features(1)[0], remove=[0])
    assert ids == [] and logits.shape == (0, H, W)


def test_every_parameter_and_the_initial_queries_get_gradients():
    model = adapter()
    init = queries(2).requires_grad_()
    model(features(3), init).sigmoid().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert init.grad is not None and init.grad.abs().sum() > 0


def test_moves_to_meta_with_its_memory_and_keeps_it_out_of_the_state_dict():
    model = adapter()
    fresh_keys = list(model.state_dict())
    stream(model, features(3), {0: dict(enumerate(queries(2)))})
    assert list(model.state_dict()) == fresh_keys
    model.to('meta')
    assert all(p.is_meta for p in model.parameters())
    assert model.memory_entries(1).is_meta and model.memory_size(1) == 3
