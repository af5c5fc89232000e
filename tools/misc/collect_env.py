"""Print the environment FastSAM2 runs in: ``python tools/misc/collect_env.py``."""
from seg.utils.collect_env import collect_env

if __name__ == '__main__':
    for name, value in collect_env().items():
        print(f'{name}: {value}')
