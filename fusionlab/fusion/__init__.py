"""Fusion methods. ``base.py`` holds the contract; one file per method, its options' values in
conf/fusion/<name>.yaml; ``build_fusion`` builds one from that YAML (config.py)."""

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.config import build_fusion

__all__ = ["Encoded", "Fusion", "FusionOutput", "build_fusion"]
