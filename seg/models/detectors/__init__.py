from .rapsam import RapSAM
from .rapsam_video import RapSAMVideo

__all__ = ['RapSAM', 'RapSAMVideo']
