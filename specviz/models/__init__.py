"""Models behind one interface (``LanguageModel``): Hugging Face models with a KV cache, the bundled
offline pair, tiny random models for tests, and the hand-checkable toy world."""

from .base import LanguageModel
from .hf import HFModel
from .pair import ModelPair, default_dtype, load_model, load_pair, pick_device, set_threads
from .toy import ToyLM, toy_pair

__all__ = ["HFModel", "LanguageModel", "ModelPair", "ToyLM", "default_dtype", "load_model",
           "load_pair", "pick_device", "set_threads", "toy_pair"]
