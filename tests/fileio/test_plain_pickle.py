"""load_plain_pickle: plain data reads, any global is refused before it runs, a bad file is named."""
import collections
import os
import pickle

import pytest

from seg.fileio import InputError, PlainPickleError, load_plain_pickle


class RunsCommand:
    """Unpickling this calls ``os.system(command)``: what a tampered annotation file would do."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


PLAIN = [{'ref_id': 0, 'sentences': [{'raw': 'the red disk', 'sent_id': 0, 'tokens': ['the', 'red', 'disk']}],
          'bbox': (1.5, 2.0), 'flags': [True, False, None], 'big': 2**70, 'neg': -3.25, 'text': 'naïve ✓'}]


@pytest.mark.parametrize('protocol', range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_reads_with_every_protocol(tmp_path, protocol):
    path = tmp_path / 'refs.p'
    path.write_bytes(pickle.dumps(PLAIN, protocol=protocol))
    assert load_plain_pickle(path) == PLAIN


def test_sets_and_bytes_read_where_the_protocol_has_opcodes_for_them(tmp_path):
    data = {'set': {1, 2}, 'frozen': frozenset('ab'), 'blob': b'\x00\xff', 'buffer': bytearray(b'xy')}
    path = tmp_path / 'refs.p'
    path.write_bytes(pickle.dumps(data, protocol=5))
    assert load_plain_pickle(path) == data
    path.write_bytes(pickle.dumps(data, protocol=2))  # protocol 2 writes them through globals (builtins.set, ...)
    with pytest.raises(PlainPickleError, match='global'):
        load_plain_pickle(path)


def test_python2_str_reads_as_utf8(tmp_path):
    path = tmp_path / 'py2.p'
    # Python 2's pickle.dumps({'raw': 'café'}, 2): SHORT_BINSTRING holds the str's UTF-8 bytes.
    path.write_bytes(b'\x80\x02}q\x00U\x03rawq\x01U\x05caf\xc3\xa9q\x02s.')
    assert load_plain_pickle(path) == {'raw': 'café'}


@pytest.mark.parametrize('protocol', [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_reduce_to_os_system_is_refused_and_never_runs(tmp_path, protocol):
    sentinel = tmp_path / 'pwned'
    path = tmp_path / 'refs(unc).p'
    path.write_bytes(pickle.dumps([{'ref_id': 0}, RunsCommand(f'touch {sentinel}')], protocol=protocol))
    with pytest.raises(PlainPickleError) as info:
        load_plain_pickle(path)
    message = str(info.value)
    assert isinstance(info.value, InputError)
    assert str(path) in message and 'refused' in message and 'system' in message and 'only plain data' in message
    assert not sentinel.exists()


@pytest.mark.parametrize('payload, what', [
    (pickle.dumps(collections.OrderedDict(a=1)), 'global collections.OrderedDict'),  # harmless, but a global
    (pickle.dumps(RunsCommand('true')), f'global {os.system.__module__}.system'),  # posix on Linux
    (b"cbuiltins\neval\n(S'1+1'\ntR.", 'global builtins.eval'),  # protocol 0 GLOBAL + REDUCE
    (b'\x80\x02X\x01\x00\x00\x00aQ.', 'persistent id'),  # BINPERSID
])
def test_globals_and_persistent_ids_are_refused(tmp_path, payload, what):
    path = tmp_path / 'refs.p'
    path.write_bytes(payload)
    with pytest.raises(PlainPickleError, match=f'is refused: it (names the|holds a) {what}'):
        load_plain_pickle(path)


def test_an_extension_code_goes_through_find_class_too(tmp_path, monkeypatch):
    import copyreg
    monkeypatch.setitem(copyreg._extension_registry, ('os', 'system'), 240)
    monkeypatch.setitem(copyreg._inverted_registry, 240, ('os', 'system'))
    path = tmp_path / 'refs.p'
    path.write_bytes(b'\x80\x02\x82\xf0.')  # EXT1 240: os.system through copyreg's extension registry
    with pytest.raises(PlainPickleError, match='is refused: it names the global os.system'):
        load_plain_pickle(path)


@pytest.mark.parametrize('payload', [b'', b'\x80\x04\x95', pickle.dumps(PLAIN)[:-7], b'{"json": "not a pickle"}'])
def test_corrupt_or_truncated_files_are_named(tmp_path, payload):
    path = tmp_path / 'refs.p'
    path.write_bytes(payload)
    with pytest.raises(PlainPickleError) as info:
        load_plain_pickle(path)
    assert str(path) in str(info.value) and 'replace it' in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(PlainPickleError, match='not found'):
        load_plain_pickle(tmp_path / 'nope.p')
