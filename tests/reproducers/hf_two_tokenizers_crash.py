"""transformers 5.25's assisted generation with two tokenizers crashes; 5.24.0 reproduces greedy.

Run it alone: ``python tests/reproducers/hf_two_tokenizers_crash.py``. It uses transformers and
tokenizers only (no specviz): two byte-level BPE tokenizers trained here on a few sentences, two
tiny random Llama models, greedy decoding with and without the drafter. With transformers 5.24.0
it prints ``assisted == plain: True``; with 5.25.0 the drafter's forward pass raises
``RuntimeError: cannot reshape tensor of 0 elements``. The cause, read in 5.25's
``generation/candidate_generator.py``: ``AssistedCandidateGeneratorDifferentTokenizers`` records
``_last_ids_length`` in *target* tokens, and ``_update_past_and_masks`` subtracts the drafter's
length in *drafter* tokens from it to decide how much of the drafter's KV cache to crop. Across
tokenizers the units differ, the cache ends up longer than the drafter's ids, and ``generate``
feeds the drafter the zero ids past its cache.
"""
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CORPUS = ["the rain in spain falls mainly on the plain", "a rainbow appears after the rain",
          "the weather today is sunny and warm", "tomorrow the weather will be cold and wet"] * 20


def bpe(vocab_size):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")


def llama(vocab_size, seed):
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=4, pad_token_id=0, bos_token_id=1,
        eos_token_id=2)).eval()


target_tok, drafter_tok = bpe(330), bpe(290)  # two byte-level BPEs, different merges
target = llama(len(target_tok), seed=0)
drafter = llama(len(drafter_tok), seed=1)
inputs = target_tok("The weather today is", return_tensors="pt")
print("transformers", transformers.__version__)
plain = target.generate(**inputs, do_sample=False, max_new_tokens=24)
assisted = target.generate(**inputs, do_sample=False, max_new_tokens=24, assistant_model=drafter,
                           tokenizer=target_tok, assistant_tokenizer=drafter_tok)
print("assisted == plain:", assisted.tolist() == plain.tolist())
assert assisted.tolist() == plain.tolist()
