"""XMem inference parity: our core over the official clip (memory rules, long-term consolidation, a later object)."""
import pytest

import seg.parity.xmem_inference as runner_module
from seg.parity import compare_outputs, fixture_state_dict, run_fixture


@pytest.fixture(scope='module')
def fixture(parity_fixture) -> dict:
    return parity_fixture('xmem_inference')


def test_probabilities_match(fixture):
    ok, checks = run_fixture(fixture)
    assert ok, {k: c.max_abs_diff for k, c in checks.items()}


def test_memory_sizes_follow_the_official_trace(fixture):
    core = runner_module.build_core(fixture)
    seen = []

    def record(t, prob):
        memory = core.memory
        seen.append(dict(t=t, out_objects=prob.shape[0] - 1, work_size=memory.work_mem.size,
                         work_group_v_sizes=[v.shape[-1] for v in memory.work_mem.value],
                         long_size=memory.long_mem.size,
                         long_group_v_sizes=[v.shape[-1] for v in memory.long_mem.value]))

    runner_module.drive_clip(core, fixture['inputs'], record)
    trace = [{k: v for k, v in step.items() if k != 'events'} for step in fixture['meta']['memory_trace']]
    assert seen == trace


def test_a_perturbed_key_projection_is_caught(fixture, monkeypatch):
    def perturbed(fx):
        state_dict = fixture_state_dict(fx)
        state_dict['key_proj.e_proj.bias'] = state_dict['key_proj.e_proj.bias'] + 0.05
        return state_dict

    monkeypatch.setattr(runner_module, 'fixture_state_dict', perturbed)
    ok, _ = compare_outputs(runner_module.run_xmem_inference(fixture), fixture)
    assert not ok
