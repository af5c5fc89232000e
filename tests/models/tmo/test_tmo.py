"""TMO checkpoints: the WACV-2023 names convert, bad files are named, AOS picks the more confident stream."""
import pytest
import torch

from seg.models.tmo import TMO, TMOCheckpointError, convert_tmo_state_dict, load_tmo_checkpoint
from seg.models.tmo.tmo import aos_confidence


@pytest.fixture(scope='module')
def state_dict():
    torch.manual_seed(0)
    return TMO().state_dict()


def test_old_names_load_strictly(tmp_path, state_dict):
    old = {'module.' + k.replace('vos.app_encoder.', 'vos.img_encoder.').replace('vos.mo_encoder.',
                                                                                   'vos.flow_encoder.'): v
           for k, v in state_dict.items()}
    assert convert_tmo_state_dict(old).keys() == state_dict.keys()
    torch.save(old, tmp_path / 'duts_davis_best.pth')
    model = TMO()
    load_tmo_checkpoint(model, tmp_path / 'duts_davis_best.pth')
    assert torch.equal(model.vos.decoder.predictor.conv.weight, state_dict['vos.decoder.predictor.conv.weight'])


def test_bad_checkpoints_are_named(tmp_path, state_dict):
    with pytest.raises(FileNotFoundError, match='TMO_rn101.pth'):
        load_tmo_checkpoint(TMO(), tmp_path / 'TMO_rn101.pth')
    partial = {k: v for k, v in state_dict.items() if not k.startswith('vos.decoder.cbam4')}
    torch.save(partial, tmp_path / 'partial.pth')
    with pytest.raises(TMOCheckpointError, match='missing'):
        load_tmo_checkpoint(TMO(), tmp_path / 'partial.pth')
    (tmp_path / 'corrupt.pth').write_bytes(b'garbage')
    with pytest.raises(TMOCheckpointError, match='corrupt.pth'):
        load_tmo_checkpoint(TMO(), tmp_path / 'corrupt.pth')


def test_confidence_counts_only_low_probabilities():
    sure = torch.tensor([[[[10.0]], [[-10.0]]]])  # p = (1, ~0): one entry below 0.1
    unsure = torch.zeros(1, 2, 1, 1)  # p = (0.5, 0.5): none below 0.1
    assert aos_confidence(unsure) == 0
    assert torch.isclose(aos_confidence(sure), torch.tensor(0.1), atol=1e-6)


def test_shapes_by_batch_size():
    model = TMO(input_size=64).eval()
    with torch.no_grad():
        scores = model(torch.rand(2, 1, 3, 40, 48), torch.rand(2, 1, 3, 40, 48))['scores']
        masks = model(torch.rand(1, 2, 3, 40, 48), torch.rand(1, 2, 3, 40, 48))['masks']
    assert scores.shape == (2, 1, 2, 40, 48) and masks.shape == (1, 2, 1, 40, 48) and masks.dtype == torch.int64
    with pytest.raises(ValueError, match='same B, L'):
        model(torch.rand(1, 2, 3, 40, 48), torch.rand(1, 3, 3, 40, 48))
