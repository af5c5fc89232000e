"""leave_worker: a launched worker ends with its tool's status and loses no log line; one process just returns."""
import subprocess
import sys
import textwrap

from seg.apis.runner import leave_worker


def test_one_process_gets_the_status_back():
    assert leave_worker(0, 'none') == 0
    assert leave_worker(2, 'none') == 2


def test_launched_worker_exits_with_the_status_after_flushing(tmp_path):
    log_file = tmp_path / 'worker.log'
    script = textwrap.dedent(f'''
        import logging, sys
        from seg.apis.runner import leave_worker
        logger = logging.getLogger('worker')
        handler = logging.FileHandler({str(log_file)!r})
        handler.setFormatter(logging.Formatter('%(message)s'))
        logger.addHandler(handler)
        logger.warning('last line of the run')
        sys.stdout.write('unflushed stdout')
        leave_worker(3, 'pytorch')
        print('not reached')
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.endswith('unflushed stdout')
    assert log_file.read_text() == 'last line of the run\n'
