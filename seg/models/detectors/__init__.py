from .rapsam import RapSAM

__all__ = ['RapSAM']
