"""Tokens as bytes, look-behind re-tokenization and the TLI intersection, on real tokenizers."""

import random

import pytest
from conftest import tiny

from specviz.models.hf import hf_vocabulary
from specviz.models.hf_vocab import vocabulary_from_hf
from specviz.models.tiny import (bytelevel_bpe_tokenizer, char_tokenizer, corpus_text,
                                 sentencepiece_tokenizer)
from specviz.models.toy import ToyLM, TARGET_TABLE
from specviz.vocab import VocabularyError, intersect

TRICKY = ["Hello world", " leading", "trailing ", "  two\n\nlines\n", "1234567 + 89 = ?",
          "Wow!!! ...?!", "café crème brûlée", "中文 text", "emoji 🌈🙂🚀", "\ttab", "x" * 40]


def vocabularies():
    return {
        "bpe": hf_vocabulary(bytelevel_bpe_tokenizer(500)),
        "spm": hf_vocabulary(sentencepiece_tokenizer(600)),
        "char": hf_vocabulary(char_tokenizer()),
    }


def test_token_bytes_undo_each_tokenizers_spelling():
    bpe_tok, spm_tok = bytelevel_bpe_tokenizer(500), sentencepiece_tokenizer(600)
    bpe, spm = hf_vocabulary(bpe_tok), hf_vocabulary(spm_tok)
    assert bpe.token_bytes[bpe_tok.convert_tokens_to_ids("Ġthe")] == b" the"
    assert spm.token_bytes[spm_tok.convert_tokens_to_ids("\u2581the")] == b" the"
    assert spm.token_bytes[spm_tok.convert_tokens_to_ids("<0xF0>")] == b"\xf0"
    assert bpe.token_bytes[bpe_tok.convert_tokens_to_ids("Ċ")] == b"\n"
    for vocab, tok in ((bpe, bpe_tok), (spm, spm_tok)):
        for special in tok.all_special_ids:
            assert vocab.token_bytes[special] is None
    assert spm.eos_ids == {spm_tok.eos_token_id}


@pytest.mark.parametrize("kind", ["bpe", "spm", "char"])
def test_continuation_encoding_spells_text_exactly(kind):
    vocab = vocabularies()[kind]
    for text in TRICKY:
        ids = vocab.encode_continuation(text.encode())
        assert vocab.bytes_of(ids) == text.encode(), text
    # half a character (an emoji cut after two bytes) becomes byte tokens, still exact
    cut = "🌈".encode()[:2]
    assert vocab.bytes_of(vocab.encode_continuation(b"a" + cut)) == b"a" + cut


@pytest.mark.parametrize("kind", ["bpe", "spm", "char"])
def test_ids_starting_with_equals_a_scan_of_the_vocabulary(kind):
    vocab = vocabularies()[kind]
    spellings = [b for b in vocab.token_bytes if b]
    prefixes = [b"", b" ", b"\n", b"  ", b"th", b"\xe4", b"\xff", b"\xff\xff", b"zzzz"]
    prefixes += random.Random(3).sample(spellings, 30)
    for prefix in prefixes:
        found = sorted(vocab.ids_starting_with(prefix).tolist())
        expected = [i for i, b in enumerate(vocab.token_bytes) if b and b.startswith(prefix)]
        assert found == expected, prefix


@pytest.mark.parametrize("kind", ["bpe", "spm", "char"])
@pytest.mark.parametrize("rewrite", [False, True])
def test_continue_ids_never_loses_or_changes_text(kind, rewrite):
    """Random cuts of the corpus: context + continuation spells exactly old + new text, and
    without rewrite the context is kept whole."""
    vocab, text, rng = vocabularies()[kind], corpus_text().encode(), random.Random(7)
    for _ in range(300):
        start = rng.randrange(len(text) - 60)
        cut = start + rng.randrange(1, 30)
        old, new = text[start:cut], text[cut:cut + rng.randrange(0, 30)]
        context = vocab.encode_continuation(old)
        cont = vocab.continue_ids(context, new, lookbehind=rng.choice([0, 3, 10]), rewrite=rewrite)
        assert cont.dropped == b""
        if not rewrite:
            assert cont.keep == len(context)
        assert vocab.bytes_of(context[:cont.keep] + cont.ids) == old + new


def test_lookbehind_merges_across_the_boundary():
    """'Hello' then ' world': the space belongs to the next word's token, not to a token of its own."""
    vocab = vocabularies()["bpe"]
    context = vocab.encode_continuation(b"The weather")
    cont = vocab.continue_ids(context, b" today", lookbehind=10)
    assert cont.ids == vocab.encode_continuation(b" today")
    assert vocab.describe(cont.ids[0]).startswith(" ")
    assert cont.window == context  # the whole short context served as look-behind


def test_straddling_token_target_side_versus_drafter_side():
    """Context ' rain' + new text 'bow': the target has the single token ' rainbow'."""
    vocab = ToyLM("t", TARGET_TABLE).vocab
    rain = vocab.encode_continuation(b" rain")
    # target side: ' rain' is committed; 'bow' alone is no target token (only ' bow' is): dropped
    fixed = vocab.continue_ids(rain, b"bow", rewrite=False)
    assert (fixed.keep, fixed.ids, fixed.dropped) == (1, [], b"bow")
    # drafter side: free to rewrite its tail into the better token
    free = vocab.continue_ids(rain, b"bow", rewrite=True)
    assert free.keep == 0 and [vocab.describe(i) for i in free.ids] == [" rainbow"]


def test_window_stops_at_special_tokens_and_character_boundaries():
    spm_tok = sentencepiece_tokenizer(600)
    vocab = hf_vocabulary(spm_tok)
    context = spm_tok("Hi")["input_ids"]  # <s> ▁Hi
    cont = vocab.continue_ids(context, b" there", lookbehind=10)
    assert spm_tok.bos_token_id not in cont.window
    assert vocab.bytes_of(cont.ids) == b" there"
    # a window must not start inside a character split into byte tokens
    emoji = vocab.encode_continuation("🌈🌈".encode())
    cont = vocab.continue_ids(emoji, b"!", lookbehind=5)
    assert vocab.bytes_of(cont.window)[:1] == "🌈".encode()[:1]


def test_intersection_matches_by_bytes_across_space_markers_and_byte_spellings():
    bpe_tok, spm_tok = bytelevel_bpe_tokenizer(500), sentencepiece_tokenizer(600)
    spm, bpe = hf_vocabulary(spm_tok), hf_vocabulary(bpe_tok)
    inter = intersect(spm, bpe)
    the_bpe, the_spm = bpe_tok.convert_tokens_to_ids("Ġthe"), spm_tok.convert_tokens_to_ids("\u2581the")
    assert int(inter.target_of[the_bpe]) == the_spm
    # 'é' is one SentencePiece piece and the byte-level stand-ins 'Ã©' on the BPE side
    e_acute = bpe_tok.convert_tokens_to_ids("Ã©")
    assert int(inter.target_of[e_acute]) == spm_tok.convert_tokens_to_ids("é")
    # a character spelled both as a piece and as a byte-fallback token maps to the piece
    a_byte = bpe_tok.convert_tokens_to_ids("A")
    assert spm_tok.convert_ids_to_tokens(int(inter.target_of[a_byte])) == "A"
    assert int(inter.target_of[bpe_tok.eos_token_id]) == spm_tok.eos_token_id  # EOS by role
    assert intersect(spm, bpe) is inter  # cached per pair of tokenizers


def test_intersection_size_on_tiny_pairs():
    assert tiny("bpe-large-vs-bpe-small").intersection.size == 400  # all of the small BPE
    assert tiny("bpe-vs-char").intersection.size == 257  # 256 bytes + EOS


def test_tokenizer_that_cannot_spell_text_back_is_refused():
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast

    backend = bytelevel_bpe_tokenizer(300).backend_tokenizer
    lower = PreTrainedTokenizerFast(tokenizer_object=backend.__class__.from_str(backend.to_str()))
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()
    with pytest.raises(VocabularyError, match="does not spell text back"):
        vocabulary_from_hf(lower)


def test_slow_tokenizer_is_refused_with_advice():
    class Slow:
        pass

    with pytest.raises(VocabularyError, match="use_fast=True"):
        vocabulary_from_hf(Slow())
