"""specviz: see, step through and measure lossless speculative decoding across vocabularies.

    import specviz as sv
    pair = sv.load_pair()                      # bundled offline pair (or any Hugging Face pair)
    res = sv.generate(pair, "The capital of France is", algorithm="slem")
    res.text, res.token_ids, res.trace, res.stats
"""

from .lazy import lazy_attributes
from .algorithms import (ALGORITHMS, SD, SLEM, SLRS, TLI, Algorithm, Autoregressive, make_algorithm,
                         register)
from .algorithms.loop import Result, generate
from .algorithms.slrs import SLRSBudgetError, slrs_cost
from .bench import BenchResult, bench  # eager: submodule specviz.bench would shadow a lazy bench()
from .models.catalogue import KNOWN_PAIRS, KnownPair
from .models import (HFModel, LanguageModel, ModelPair, NGramDrafter, PromptLookup, ToyLM,
                     load_model, load_pair, pick_device, set_threads, toy_pair)
from .trace import PHASES, Stats, Trace, TraceError
from .vocab import Vocabulary, VocabularyError, intersect

__version__ = "0.1.0"

# Loaded on first use (specviz/lazy.py): figures and widgets need plotly and ipywidgets, the
# bundled models transformers.
__getattr__, __dir__ = lazy_attributes(__name__, {
    "BUNDLED_MODELS": "models.bundled", "BUNDLED_PAIRS": "models.bundled",
    "bundled_status": "models.bundled",
    "prepare_bundled": "models.bundled", "Stepper": "viz", "explore": "viz",
}, submodules=("viz", "exercises", "lossless", "acceptance", "costmodel", "huggingface"))

__all__ = [
    "ALGORITHMS", "BUNDLED_MODELS", "BUNDLED_PAIRS", "KNOWN_PAIRS", "KnownPair", "PHASES", "SD", "SLEM", "SLRS", "TLI", "Algorithm", "Autoregressive", "BenchResult", "HFModel",
    "LanguageModel", "ModelPair", "NGramDrafter", "PromptLookup", "Result", "SLRSBudgetError", "Stats", "Stepper", "ToyLM", "Trace", "TraceError",
    "Vocabulary", "VocabularyError", "bench", "explore", "generate", "intersect", "load_model", "load_pair",
    "make_algorithm", "pick_device", "prepare_bundled", "bundled_status", "register", "set_threads", "slrs_cost", "toy_pair",
]
