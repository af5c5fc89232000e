"""FastSAM2: RapSAM grown into one multi-task model (task router, prompt fusion, streaming memory)."""
from .lite_dfpn import LiteDFPN

__all__ = ['LiteDFPN']
