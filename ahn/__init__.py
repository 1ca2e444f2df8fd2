"""Reference implementation of Artificial Hippocampus Networks (AHN) on Hugging Face models.

lm = ahn.load_model("smollm2-135m", method="ahn-gdn", window=512, sinks=32)
new_tokens = ahn.generate(lm.model, input_ids, max_new_tokens=32)
"""

from ahn.attach import AttachedMethod, ahn_parameters, attach_method, new_cache
from ahn.cache import MemoryCache
from ahn.errors import UserError
from ahn.generate import decode_one_token, generate, prefill
from ahn.methods import METHODS, MethodSpec
from ahn.models import DEFAULT_MODEL, LoadedModel, load_base_model, load_model, load_tokenizer, tiny_model
from ahn.weights import load_ahn_weights, save_ahn_weights

__all__ = [
    "DEFAULT_MODEL", "METHODS", "AttachedMethod", "LoadedModel", "MemoryCache", "MethodSpec", "UserError",
    "ahn_parameters", "attach_method", "decode_one_token", "generate", "load_ahn_weights", "load_base_model",
    "load_model", "load_tokenizer", "new_cache", "prefill", "save_ahn_weights", "tiny_model",
]  # fmt: skip
