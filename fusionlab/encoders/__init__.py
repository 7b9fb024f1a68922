"""Modality encoders: each maps one modality's batch tensors to an :class:`Encoded` of size d."""

from fusionlab.encoders.build import build_encoders

__all__ = ["build_encoders"]
