"""fusionlab: Hydra-configured PyTorch Lightning framework for multimodal fusion research.

Kept import-light on purpose: ``python train.py --help`` must not import torch.
"""

__version__ = "0.1.0"
