"""Fusion methods. ``base.py`` holds the contract; one file per method."""

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput

__all__ = ["Encoded", "Fusion", "FusionOutput"]
