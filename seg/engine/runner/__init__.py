"""Runners."""
from .fastsam2_runner import FastSAM2Runner

__all__ = ['FastSAM2Runner']
