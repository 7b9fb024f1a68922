"""What a DataModule tells the task module about its data: :class:`DataSpec`, declared with the other
contracts in fusionlab/contracts.py and re-exported here."""

from fusionlab.contracts import (CLASSIFICATION, REGRESSION, SEQUENCE, TOKENS, TRANSLATION, VECTOR,
                                 DataSpec, ModalitySpec)

__all__ = ["TOKENS", "VECTOR", "SEQUENCE", "TRANSLATION", "CLASSIFICATION", "REGRESSION", "ModalitySpec",
           "DataSpec"]
