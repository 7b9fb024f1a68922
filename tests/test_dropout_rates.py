"""The Transformer encoder's and decoder's three dropout rates: ``dropout`` (embeddings and each
sub-block's output), ``attention_dropout`` (attention probabilities) and ``activation_dropout``
(after the feed-forward ReLU), as in fairseq's Transformer.

Each rate is checked where it acts: a rate of 1 zeroes exactly its site, so the block in training
mode reduces to an explicit formula (attention output = the output projection's bias; feed-forward
output = the second linear's bias). Rates of 0 everywhere make training mode equal evaluation mode.
"""

from __future__ import annotations

import pytest
import torch

from fusionlab.config_checks import check_config
from fusionlab.encoders.transformer import TransformerTextEncoder
from fusionlab.errors import ConfigError
from fusionlab.heads.transformer_decoder import DecoderLayer, TransformerDecoder
from tests.conftest import compose_train

D, H, FF, V, PAD = 8, 2, 16, 12, 0


def decoder_inputs():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, 5, D, generator=g), torch.randn(2, 3, D, generator=g),
            torch.zeros(2, 3, dtype=torch.bool))


def feed_forward(linear1, linear2, x):
    return linear2(torch.relu(linear1(x)))


def test_decoder_attention_dropout_one_leaves_only_the_output_projection_bias():
    torch.manual_seed(0)
    layer = DecoderLayer(D, H, FF, dropout=0.0, attention_dropout=1.0, activation_dropout=0.0)
    x, memory, pad = decoder_inputs()
    h = x + layer.self_attn.out_proj.bias + layer.cross_attn.out_proj.bias
    expected = h + feed_forward(layer.ff[0], layer.ff[3], layer.norm3(h))
    torch.testing.assert_close(layer.train()(x, memory, pad), expected)


def test_decoder_activation_dropout_one_leaves_only_the_second_linear_bias():
    torch.manual_seed(0)
    layer = DecoderLayer(D, H, FF, dropout=0.0, attention_dropout=0.0, activation_dropout=1.0)
    x, memory, pad = decoder_inputs()
    out = layer.train()(x, memory, pad)
    h1 = layer.norm1(x)
    a = x + layer.self_attn(h1, h1, h1, need_weights=False)[0]
    h2 = layer.norm2(a)
    b = a + layer.cross_attn(h2, memory, memory, key_padding_mask=pad, need_weights=False)[0]
    torch.testing.assert_close(out, b + layer.ff[3].bias)


def one_layer_encoder(attention_dropout: float, activation_dropout: float):
    """(encoder, its layer, ids (2, 4), mask (2, 4)) with residual dropout 0."""
    torch.manual_seed(0)
    enc = TransformerTextEncoder(V, D, PAD, num_layers=1, nhead=H, ff=FF, dropout=0.0,
                                 attention_dropout=attention_dropout,
                                 activation_dropout=activation_dropout)
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, PAD, PAD]])
    return enc, enc.layers.layers[0], ids, ids != PAD


def test_encoder_attention_dropout_one_leaves_only_the_output_projection_bias():
    enc, layer, ids, mask = one_layer_encoder(attention_dropout=1.0, activation_dropout=0.0)
    h = enc.embed(ids) + layer.self_attn.out_proj.bias
    h = h + feed_forward(layer.linear1, layer.linear2, layer.norm2(h))
    expected = enc.layers.norm(h) * mask[..., None]
    torch.testing.assert_close(enc.train()(ids, mask).seq, expected)


def test_encoder_activation_dropout_one_leaves_only_the_second_linear_bias():
    enc, layer, ids, mask = one_layer_encoder(attention_dropout=0.0, activation_dropout=1.0)
    x = enc.embed(ids)
    h1 = layer.norm1(x)
    a = x + layer.self_attn(h1, h1, h1, key_padding_mask=~mask, need_weights=False)[0]
    expected = enc.layers.norm(a + layer.linear2.bias) * mask[..., None]
    torch.testing.assert_close(enc.train()(ids, mask).seq, expected)


def test_all_rates_zero_make_training_mode_deterministic_and_equal_to_eval():
    torch.manual_seed(0)
    enc = TransformerTextEncoder(V, D, PAD, num_layers=2, nhead=H, ff=FF, dropout=0.0,
                                 attention_dropout=0.0, activation_dropout=0.0)
    dec = TransformerDecoder(V, D, PAD, 1, 2, num_layers=2, nhead=H, ff=FF, dropout=0.0,
                             attention_dropout=0.0, activation_dropout=0.0)
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, PAD, PAD]])
    mask = ids != PAD
    z = torch.randn(2, D)

    def run():
        seq = enc(ids, mask).seq
        return dec.hidden(ids, z, seq, mask)

    enc.train(), dec.train()
    trained = run()
    enc.eval(), dec.eval()
    torch.testing.assert_close(trained, run())


def test_unset_rates_follow_dropout():
    """None (the class default) means ``dropout``: models built before the options existed."""
    torch.manual_seed(0)
    layer = TransformerDecoder(V, D, PAD, 1, 2, num_layers=1, nhead=H, ff=FF, dropout=0.3).layers[0]
    x, memory, pad = decoder_inputs()
    torch.manual_seed(1)
    out = layer.train()(x, memory, pad)
    torch.manual_seed(0)
    same = DecoderLayer(D, H, FF, dropout=0.3, attention_dropout=0.3, activation_dropout=0.3)
    same.load_state_dict(layer.state_dict())
    torch.manual_seed(1)
    torch.testing.assert_close(same.train()(x, memory, pad), out)


def test_config_rates_follow_dropout_unless_given(tmp_path):
    cfg = compose_train(["encoder=transformer", "task=translation_transformer",
                         "task.decoder.dropout=0.3", "encoder.text.dropout=0.2"], tmp_path, tmp_path)
    assert cfg.task.decoder.attention_dropout == cfg.task.decoder.activation_dropout == 0.3
    assert cfg.encoder.text.attention_dropout == cfg.encoder.text.activation_dropout == 0.2
    cfg = compose_train(["encoder=transformer", "task=translation_transformer",
                         "task.decoder.attention_dropout=0", "encoder.text.activation_dropout=0"],
                        tmp_path, tmp_path)
    assert cfg.task.decoder.attention_dropout == 0 and cfg.task.decoder.activation_dropout == 0.1
    assert cfg.encoder.text.activation_dropout == 0 and cfg.encoder.text.attention_dropout == 0.1


def test_config_refuses_a_rate_outside_zero_one(tmp_path):
    cfg = compose_train(["task=translation_transformer", "task.decoder.attention_dropout=1.5"],
                        tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="task.decoder.attention_dropout=1.5"):
        check_config(cfg)
