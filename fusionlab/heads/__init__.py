"""Task heads: sequence decoders (with greedy/beam generation) and classifier/regression heads."""

from fusionlab.heads.classifier import BinaryPerLabelHead, MultiClassHead, RegressionHead
from fusionlab.heads.decoder import Decoder
from fusionlab.heads.rnn_decoder import RNNDecoder
from fusionlab.heads.transformer_decoder import TransformerDecoder

__all__ = ["Decoder", "RNNDecoder", "TransformerDecoder", "BinaryPerLabelHead", "MultiClassHead",
           "RegressionHead"]
