"""MemoryManager without a network: top-k readout, usage, object groups, working → long-term consolidation, budget."""
import math

import pytest
import torch

from seg.models.xmem.inference.kv_memory_store import INITIAL_LIFE
from seg.models.xmem.inference.memory_manager import MemoryManager


def config(**overrides) -> dict:
    base = dict(hidden_dim=4, top_k=30, enable_long_term=False, enable_long_term_count_usage=True,
                max_mid_term_frames=3, min_mid_term_frames=2, num_prototypes=2, max_long_term_elements=100)
    return {**base, **overrides}


def frame_keys(*tokens) -> torch.Tensor:
    """(1, CK, 1, n) keys, one token per argument (a CK-vector)."""
    return torch.tensor(tokens, dtype=torch.float32).T[None, :, None]


def frame_values(*per_object) -> torch.Tensor:
    """(1, N, 1, 1, n) values, one list of n numbers per object."""
    return torch.tensor(per_object, dtype=torch.float32)[None, :, None, None]


@pytest.mark.parametrize('top_k', [1, 2])
def test_readout_is_a_top_k_softmax_of_the_scaled_similarity(top_k):
    manager = MemoryManager(config(top_k=top_k))
    key = frame_keys((1, 0), (0, 1))
    value = torch.tensor([[1., 10.], [2., 20.], [3., 30.]])  # (CV, tokens): token 0 → (1, 2, 3)
    manager.add_memory(key, torch.ones(1, 1, 1, 2), value[None, None, :, None], [1])
    out = manager.match_memory(key, None)  # queries = the two memory tokens
    assert out.shape == (1, 3, 1, 2)
    # similarity −|k|² + 2 k·q over √CK: ±1/√2, so the matching token weighs sigmoid(√2) with k = 2
    weight = 1.0 if top_k == 1 else 1 / (1 + math.exp(-math.sqrt(2)))
    expected = torch.stack([weight * value[:, 0] + (1 - weight) * value[:, 1],
                            weight * value[:, 1] + (1 - weight) * value[:, 0]], -1)
    assert torch.allclose(out[0, :, 0], expected, atol=1e-5)


def test_reads_add_their_affinity_to_the_working_tokens_usage():
    manager = MemoryManager(config(enable_long_term=True, top_k=1))
    key = frame_keys((1, 0), (0, 1))
    manager.add_memory(key, torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1, 1, 2), [1])
    manager.match_memory(frame_keys((1, 0), (1, 0), (0, 1)), None)
    assert torch.allclose(manager.work_mem.get_usage().flatten(), torch.tensor([2., 1.]) / (1 + INITIAL_LIFE))


def test_a_later_group_reads_only_the_tokens_since_it_was_given():
    manager = MemoryManager(config(top_k=1))
    manager.add_memory(frame_keys((3, 0), (0, 3)), torch.ones(1, 1, 1, 2), frame_values([1, 2]), [1])
    manager.add_memory(frame_keys((-3, 0), (0, -3)), torch.ones(1, 1, 1, 2), frame_values([3, 4], [5, 6]), [1, 2])
    out = manager.match_memory(frame_keys((3, 0)), None)
    # object 1 matches frame 0's (3, 0); object 2 only sees frame 1, where (0, -3) is nearer than (-3, 0)
    assert torch.equal(out.flatten(), torch.tensor([1., 6.]))


def consolidated(**overrides):
    """A manager after one consolidation; frame 1 holds 4 orthogonal keys 10·e_j, token 1 the most used, then 3.

    Returns the manager and the keys (1, 4, 4) and values (1, 2, 4) of frames 0..3.
    """
    torch.manual_seed(0)
    manager = MemoryManager(config(enable_long_term=True, **overrides))
    keys = [0.1 * torch.randn(1, 4, 4) for _ in range(4)]
    keys[1] = 10 * torch.eye(4)[None]
    values = [torch.arange(8.).view(1, 2, 4) + 10 * t for t in range(4)]
    for t in range(2):
        manager.add_memory(keys[t].view(1, 4, 2, 2), torch.ones(1, 1, 2, 2), values[t].view(1, 1, 2, 2, 2), [1])
    manager.work_mem.update_usage(torch.tensor([0, 0, 0, 0, 0.1, 0.9, 0.2, 0.5]))
    manager.add_memory(keys[2].view(1, 4, 2, 2), torch.ones(1, 1, 2, 2), values[2].view(1, 1, 2, 2, 2), [1])
    return manager, keys, values


def test_a_full_working_memory_turns_its_middle_frames_into_the_most_used_prototypes():
    manager, keys, values = consolidated()
    # max_mid_term_frames 3 reached: frame 1 (between the first frame and the last min_mid_term − 1) leaves
    assert torch.equal(manager.work_mem.key, torch.cat([keys[0], keys[2]], -1))
    assert torch.equal(manager.work_mem.value[0], torch.cat([values[0], values[2]], -1))
    # its two most used tokens (1, then 3) become the prototypes; orthogonal keys read back their own values
    assert torch.equal(manager.long_mem.key, keys[1][:, :, [1, 3]])
    assert torch.allclose(manager.long_mem.value[0], values[1][:, :, [1, 3]], atol=1e-5)
    assert torch.allclose(manager.long_mem.shrinkage, torch.ones(1, 1, 2))


def test_reads_find_long_term_prototypes_and_count_their_usage():
    manager, keys, values = consolidated(top_k=1)
    out = manager.match_memory(keys[1][:, :, 1].view(1, 4, 1, 1), None)
    assert torch.allclose(out.flatten(), values[1][0, :, 1], atol=1e-5)
    assert torch.allclose(manager.long_mem.get_usage().flatten(), torch.tensor([1., 0.]) / (1 + INITIAL_LIFE))
    assert torch.equal(manager.work_mem.use_count, torch.zeros(1, 1, 8))


def test_long_term_memory_at_its_budget_forgets_its_least_used_prototypes_first():
    manager, keys, _ = consolidated(max_long_term_elements=3)  # budget before adding 2 prototypes: 1
    manager.long_mem.update_usage(torch.tensor([0.2, 0.7]))
    manager.work_mem.update_usage(torch.tensor([0, 0, 0, 0, 0.3, 0.1, 0.8, 0.05]))
    manager.add_memory(keys[3].view(1, 4, 2, 2), torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2, 2), [1])
    # prototype 0 (usage 0.2) went; frame 2's tokens 2 and 0 joined
    assert torch.equal(manager.long_mem.key, torch.cat([keys[1][:, :, [3]], keys[2][:, :, [2, 0]]], -1))
    assert manager.long_mem.value[0].shape[-1] == 3
    assert torch.equal(manager.work_mem.key, torch.cat([keys[0], keys[3]], -1))


def test_hidden_state_grows_with_zeros_for_new_objects():
    manager = MemoryManager(config())
    sample_key = torch.zeros(1, 2, 3, 5)
    manager.create_hidden_state(2, sample_key)
    assert torch.equal(manager.get_hidden(), torch.zeros(1, 2, 4, 3, 5))
    manager.set_hidden(torch.ones(1, 2, 4, 3, 5))
    manager.create_hidden_state(3, sample_key)
    hidden = manager.get_hidden()
    assert hidden.shape == (1, 3, 4, 3, 5) and hidden[:, :2].eq(1).all() and not hidden[:, 2].any()
    manager.create_hidden_state(2, sample_key)
    assert hidden is manager.get_hidden()
