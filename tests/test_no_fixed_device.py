import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXED_DEVICE = re.compile(r"""device\s*=\s*['"]cuda|\.cuda\(\)|torch\.device\(\s*['"]cuda""")


def test_library_code_creates_nothing_on_a_fixed_device():
    offenders = [f'{path.relative_to(REPO)}:{number}: {line.strip()}'
                 for folder in ('seg', 'ext') for path in sorted((REPO / folder).rglob('*.py'))
                 for number, line in enumerate(path.read_text().splitlines(), 1) if FIXED_DEVICE.search(line)]
    assert not offenders, 'tensors must follow their module/input device:\n' + '\n'.join(offenders)
