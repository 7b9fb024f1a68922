"""Tokenizers: round trips, special ids, the word vocabulary's min_count rule, determinism, save/load."""

from __future__ import annotations

import json
import pickle

import pytest

from fusionlab.data.text import (SentencePieceTokenizer, WordTokenizer, detokenize, load_tokenizer,
                                 train_tokenizer)
from fusionlab.errors import ConfigError, DataError

CORPUS = [
    "A man in a blue shirt is riding a bike.",
    "Two dogs play in the snow, near a tree.",
    "A woman (smiling) reads a book at the park!",
    "Children are playing football on the grass?",
    "The man's dog runs across the street.",
    "Zwei Hunde spielen im Schnee; ein Mann schaut zu.",
] * 5


def test_word_round_trip_with_detokenized_punctuation():
    tok = WordTokenizer.train(CORPUS, lowercase=True, min_count=1)
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    for s in CORPUS[:6]:
        ids = tok.encode(s)
        assert tok.bos_id not in ids and tok.eos_id not in ids
        assert tok.decode(ids) == s.lower()
    assert detokenize("a dog ( big ) , runs .") == "a dog (big), runs."


def test_word_min_count_maps_rare_words_to_unk():
    texts = ["cat cat cat", "dog dog", "bird"]
    tok = WordTokenizer.train(texts, min_count=3)
    assert tok.encode("cat dog bird") == [tok.index["cat"], tok.unk_id, tok.unk_id]
    assert tok.vocab_size == 5  # 4 specials + "cat"
    assert WordTokenizer.train(texts, min_count=2).encode("dog") != [tok.unk_id]


def test_word_lowercase_option_and_fingerprint():
    cased = WordTokenizer.train(["The Dog the dog"], lowercase=False, min_count=1)
    lower = WordTokenizer.train(["The Dog the dog"], lowercase=True, min_count=1)
    assert cased.vocab_size == 8 and lower.vocab_size == 6
    assert cased.decode(cased.encode("The dog")) == "The dog"
    assert cased.fingerprint != lower.fingerprint


def test_decode_stops_at_eos_and_drops_pad_and_bos():
    tok = WordTokenizer.train(["red ball"], min_count=1)
    red, ball = tok.encode("red ball")
    assert tok.decode([tok.bos_id, red, tok.pad_id, ball, tok.eos_id, red, tok.pad_id]) == "red ball"


def test_word_save_load(tmp_path):
    tok = WordTokenizer.train(CORPUS, min_count=2)
    tok.save(tmp_path / "w.json")
    back = load_tokenizer(tmp_path / "w.json")
    assert isinstance(back, WordTokenizer)
    assert back.fingerprint == tok.fingerprint
    assert back.encode(CORPUS[1]) == tok.encode(CORPUS[1])


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_sentencepiece_round_trip_deterministic_and_save_load(tmp_path, model_type):
    tok = SentencePieceTokenizer.train(CORPUS, vocab_size=120, model_type=model_type)
    again = SentencePieceTokenizer.train(CORPUS, vocab_size=120, model_type=model_type)
    assert tok.fingerprint == again.fingerprint
    assert 4 < tok.vocab_size <= 120
    assert [tok.sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
    for s in CORPUS[:6]:
        ids = tok.encode(s)
        assert min(ids) > 2  # no pad/BOS/EOS inside
        assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == s
    tok.save(tmp_path / "sp.json")
    back = load_tokenizer(tmp_path / "sp.json")
    assert back.fingerprint == tok.fingerprint and back.encode(CORPUS[2]) == tok.encode(CORPUS[2])
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.encode_batch(CORPUS[:3]) == tok.encode_batch(CORPUS[:3])


def test_sentencepiece_lowercase_and_vocab_size_changes_fingerprint():
    a = SentencePieceTokenizer.train(CORPUS, vocab_size=100)
    b = SentencePieceTokenizer.train(CORPUS, vocab_size=100, lowercase=True)
    c = SentencePieceTokenizer.train(CORPUS, vocab_size=90)
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3
    assert b.decode(b.encode("A Man")) == "a man"


def test_bad_options_and_files_raise_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="dataset.tokenizer"):
        train_tokenizer("chars", CORPUS)
    with pytest.raises(ConfigError, match="sp_model_type"):
        SentencePieceTokenizer.train(CORPUS, model_type="char")
    with pytest.raises(DataError, match="not found"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(DataError, match="bad.json"):
        load_tokenizer(tmp_path / "bad.json")
