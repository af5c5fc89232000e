"""KeyValueMemoryStore without a network: object groups, usage counters, trimming by range and by usage."""
import pytest
import torch

from seg.models.xmem.inference.kv_memory_store import INITIAL_LIFE, KeyValueMemoryStore


def tokens(*index: int, channels: int = 2) -> torch.Tensor:
    """(1, channels, n) keys whose every channel holds the token's ``index`` (so a token is recognisable)."""
    return torch.tensor(index, dtype=torch.float32).expand(1, channels, len(index)).clone()


def values(num_objects: int, *index: int) -> torch.Tensor:
    """(num_objects, 1, n) values: 100·object + token index."""
    return torch.stack([torch.tensor(index, dtype=torch.float32)[None] + 100 * (obj + 1)
                        for obj in range(num_objects)])


def working_store(count_usage: bool = True) -> KeyValueMemoryStore:
    """Tokens 0..5: objects 1 and 2 from token 0, object 3 (a second group) from token 3."""
    store = KeyValueMemoryStore(count_usage)
    store.add(tokens(0, 1, 2), values(2, 0, 1, 2), tokens(0, 1, 2, channels=1), None, objects=[1, 2])
    store.add(tokens(3, 4, 5), values(3, 3, 4, 5), tokens(3, 4, 5, channels=1), None, objects=[1, 2, 3])
    return store


def test_objects_given_later_start_a_group_over_the_tokens_since():
    store = working_store()
    assert store.size == 6 and store.obj_groups == [[0, 1], [2]]
    assert [store.get_v_size(g) for g in range(2)] == [6, 3]
    assert torch.equal(store.value[0][1, 0], torch.tensor([200., 201, 202, 203, 204, 205]))
    assert torch.equal(store.value[1][0, 0], torch.tensor([303., 304, 305]))
    assert torch.equal(store.shrinkage.flatten(), torch.arange(6.))
    assert torch.equal(store.use_count.flatten(), torch.zeros(6))
    assert torch.allclose(store.life_count.flatten(), torch.full((6,), INITIAL_LIFE))


def test_new_labels_must_come_after_the_known_ones():
    store = KeyValueMemoryStore(count_usage=False)
    store.add(tokens(0), values(2, 0), None, None, objects=[2])  # values cover all labels; object 2 is given
    with pytest.raises(ValueError, match='above the existing ones'):
        store.add(tokens(1), values(2, 1), None, None, objects=[1, 2])


def test_usage_is_use_over_life():
    store = working_store()
    store.update_usage(torch.tensor([1., 0, 2, 0, 0, 4]))
    store.update_usage(torch.tensor([1., 1, 0, 0, 0, 4]))
    life = 2 + INITIAL_LIFE
    assert torch.allclose(store.get_usage().flatten(), torch.tensor([2., 1, 2, 0, 0, 8]) / life)


def test_a_store_without_counters_ignores_usage_and_refuses_to_report_it():
    store = working_store(count_usage=False)
    store.update_usage(torch.ones(6))
    assert store.use_count is None
    with pytest.raises(RuntimeError, match='does not count usage'):
        store.get_usage()


def test_sieve_by_range_drops_the_middle_and_spares_short_groups():
    store = working_store()
    store.update_usage(torch.arange(6.))
    store.sieve_by_range(1, -2, min_size=4)
    assert torch.equal(store.key[0, 0], torch.tensor([0., 4, 5]))
    assert torch.equal(store.shrinkage.flatten(), torch.tensor([0., 4, 5]))
    assert torch.allclose(store.use_count.flatten(), torch.tensor([0., 4, 5]))
    assert torch.equal(store.value[0][0, 0], torch.tensor([100., 104, 105]))
    # the later group (3 tokens) is shorter than min_size: left whole, as the official code does
    assert torch.equal(store.value[1][0, 0], torch.tensor([303., 304, 305]))


def test_get_all_sliced_counts_end_from_the_back():
    store = working_store()
    store.update_usage(torch.arange(6.))
    key, shrinkage, selection, usage = store.get_all_sliced(2, -1)
    assert torch.equal(key[0, 0], torch.tensor([2., 3, 4]))
    assert torch.equal(shrinkage.flatten(), torch.tensor([2., 3, 4])) and selection is None
    assert torch.allclose(usage.flatten(), torch.tensor([2., 3, 4]) / (1 + INITIAL_LIFE))
    assert torch.equal(store.get_all_sliced(4, 0)[0][0, 0], torch.tensor([4., 5]))


def test_remove_obsolete_features_keeps_the_most_used_and_drops_ties_at_the_threshold():
    store = working_store()
    store.update_usage(torch.tensor([0.5, 0.1, 0.9, 0.3, 0.3, 0.7]))
    store.remove_obsolete_features(4)
    # the 2nd-smallest usage (0.3) is the threshold: both tokens at 0.3 go, 3 remain
    assert torch.equal(store.key[0, 0], torch.tensor([0., 2, 5]))
    assert torch.equal(store.value[0][0, 0], torch.tensor([100., 102, 105]))
    # the later group followed its last tokens (3, 4, 5): only token 5 is left
    assert torch.equal(store.value[1][0, 0], torch.tensor([305.]))
    store.remove_obsolete_features(3)
    assert store.size == 3


def test_long_term_values_go_to_their_group_slot():
    store = KeyValueMemoryStore(count_usage=True)
    store.add(tokens(0, 1), [values(2, 0, 1), None], tokens(0, 1, channels=1), None, objects=None)
    assert store.num_groups == 1
    store.add(tokens(2, 3), [values(2, 2, 3), values(1, 2, 3)], tokens(2, 3, channels=1), None, objects=None)
    assert store.size == 4 and store.num_groups == 2
    assert torch.equal(store.value[0][0, 0], torch.tensor([100., 101, 102, 103]))
    assert torch.equal(store.value[1][0, 0], torch.tensor([102., 103]))
