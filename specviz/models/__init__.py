"""Models behind one interface (``LanguageModel``): Hugging Face models with a KV cache, the bundled
offline pair, tiny random models for tests, the hand-checkable toy world, and drafters with no
weights at all (prompt lookup, a byte n-gram model)."""

from .base import LanguageModel
from .hf import HFModel
from .ngram import NGramDrafter
from .pair import (FREE_DRAFTERS, ModelPair, default_dtype, load_model, load_pair, pick_device,
                   set_threads)
from .prompt_lookup import PromptLookup
from .toy import ToyLM, toy_pair

__all__ = ["FREE_DRAFTERS", "HFModel", "LanguageModel", "ModelPair", "NGramDrafter", "PromptLookup",
           "ToyLM", "default_dtype", "load_model", "load_pair", "pick_device", "set_threads",
           "toy_pair"]
