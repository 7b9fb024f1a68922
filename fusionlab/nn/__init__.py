"""Tensor helpers shared by encoders, fusions and heads (masks, position codes); no modules with weights."""
