"""Check our implementations against parity fixtures.

``python tools/misc/check_parity.py FIXTURE.pt [...]`` runs the runner
registered for each fixture's ``meta['kind']``, prints the max abs difference
per output and exits 1 on any mismatch, unknown kind or error.
"""
import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('fixtures', nargs='+', help='parity fixture .pt files')
    args = parser.parse_args(argv)

    import seg  # noqa: F401
    from seg.parity import load_fixture, run_fixture

    failed = 0
    for path in args.fixtures:
        try:
            fixture = load_fixture(path)
            ok, checks = run_fixture(fixture)
        except Exception as err:  # report and go on to the next fixture
            print(f'FAIL {path}: {type(err).__name__}: {err}')
            failed += 1
            continue
        meta = fixture.get('meta', {})
        print(f'{"PASS" if ok else "FAIL"} {path} (kind {meta.get("kind")}, rtol {meta.get("rtol", 1e-4)}, '
              f'atol {meta.get("atol", 1e-5)})')
        for check in checks.values():
            print(f'  {"ok  " if check.ok else "BAD "} {check.key}: max abs diff {check.max_abs_diff:.3g}'
                  f'{"  " + check.detail if check.detail else ""}')
        failed += not ok
    print(f'{len(args.fixtures) - failed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
