"""specviz: see, step through and measure lossless speculative decoding across vocabularies.

    import specviz as sv
    pair = sv.load_pair()                      # bundled offline pair (or any Hugging Face pair)
    res = sv.generate(pair, "The capital of France is", algorithm="slem")
    res.text, res.token_ids, res.trace, res.stats
"""

from .algorithms import ALGORITHMS, SD, SLEM, SLRS, TLI, Algorithm, Autoregressive, make_algorithm
from .algorithms.loop import Result, generate
from .algorithms.slrs import SLRSBudgetError, slrs_cost
from .models import (HFModel, LanguageModel, ModelPair, ToyLM, load_model, load_pair, pick_device,
                     set_threads, toy_pair)
from .trace import PHASES, Stats, Trace
from .vocab import Vocabulary, VocabularyError, intersect

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS", "PHASES", "SD", "SLEM", "SLRS", "TLI", "Algorithm", "Autoregressive", "HFModel",
    "LanguageModel", "ModelPair", "Result", "SLRSBudgetError", "Stats", "ToyLM", "Trace",
    "Vocabulary", "VocabularyError", "generate", "intersect", "load_model", "load_pair",
    "make_algorithm", "pick_device", "set_threads", "slrs_cost", "toy_pair",
]
