"""Verify passes that compute exactly what one-position passes compute: exact greedy in bf16.

Speculative decoding is lossless only if the target's scores at a position do not depend on how
many positions its forward pass fed. On paper they don't; on a CPU they can, in the last bits:

* a matrix multiply of 1 row, of 5 and of 40 rows may run three different kernels, and each sums
  the products in its own order (seen here in bf16: 1 row differs from 2..32 rows, which agree);
* attention of 5 query rows at once blocks its work differently from one query row.

In float32 the difference is about 1e-6 and a near-tie at that size is rare; in bfloat16 logits
keep three significant digits and a verify pass of k positions and a plain one-position pass
disagreed by up to 0.19 on Qwen 1.5B, enough to flip a greedy argmax now and then. So on the CPU
the target runs *invariant passes*:

1. attention is computed one query row at a time, each row over exactly the keys it may see
   (``row_by_row_attention``), so a row's arithmetic is the same in a pass of any length;
2. every pass feeds between 2 and ``largest`` positions, the range in which this CPU's matrix
   multiplies were measured to give each row the same bits (``largest_invariant_pass``): a lone
   position gets a spare one after it (its cache entry dropped again), a long prompt goes in pieces.

Then a k-position verify pass and k one-position passes give the same logits bit for bit, and
greedy speculative decoding reproduces plain greedy decoding exactly. The price: the prompt runs
in pieces, and a plain step computes two positions (on this CPU's bf16 kernels, about one's cost).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ROW_ATTENTION = "specviz_rows"
"""The name under which ``row_by_row_attention`` is registered with transformers."""

PROBE_ROWS = 64  # the most rows the probe tries; passes are never longer than this
PROBE_FEATURES = 2048  # output features tried per weight shape (the row order is what varies)


def _visible_keys(mask: torch.Tensor | None, row: int, end: int) -> tuple[int, torch.Tensor | None]:
    """Where query ``row``'s keys start, and its mask over keys ``start:end`` (None: all visible).

    Dropping the masked keys in front (a sliding window) and an all-visible mask makes the row's
    attention the same call whatever else the pass holds.
    """
    if mask is None:
        return 0, None
    row_mask = mask[:, :, row : row + 1, :end]
    visible = row_mask if row_mask.dtype == torch.bool else row_mask == 0
    seen = visible.flatten(0, 2).any(dim=0)  # [end]: visible to some batch row or head
    start = int(seen.int().argmax()) if bool(seen.any()) else 0
    if bool(visible[..., start:].all()):
        return start, None
    return start, row_mask[..., start:]


def row_by_row_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                         **kwargs):
    """Attention one query row at a time, each over exactly the keys that row may see.

    Shapes as transformers passes them: ``query [B, H, q, D]``, ``key``/``value [B, H_kv, kv, D]``;
    returns ``([B, q, H, D], None)``. Query row ``i`` is the ``(q - 1 - i)``-th last position, so
    it sees keys ``:kv - (q - 1 - i)``.
    """
    if kwargs.get("softcap") is not None or kwargs.get("s_aux") is not None:
        raise ValueError("invariant passes do not support attention softcapping or sinks; load "
                         "the target with invariant=False")
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    q_len, kv_len = query.shape[2], key.shape[2]
    rows = []
    for i in range(q_len):
        end = kv_len - (q_len - 1 - i)
        start, mask = _visible_keys(attention_mask, i, end)
        rows.append(F.scaled_dot_product_attention(
            query[:, :, i : i + 1], key[:, :, start:end], value[:, :, start:end],
            attn_mask=mask, scale=scaling))
    return torch.cat(rows, dim=2).transpose(1, 2).contiguous(), None


def register_row_attention() -> None:
    """Make ``attn_implementation="specviz_rows"`` known to transformers (once per process)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ROW_ATTENTION, row_by_row_attention)
    AttentionMaskInterface.register(ROW_ATTENTION, sdpa_mask)


def supports_row_attention(model) -> str | None:
    """Why ``model`` cannot run row-by-row attention (None if it can)."""
    config = model.config.get_text_config()
    if getattr(config, "attn_logit_softcapping", None) is not None:
        return "its attention uses logit softcapping"
    if not getattr(model, "_supports_attention_backend", False):
        return "it does not accept custom attention functions"
    return None


def largest_invariant_pass(model, max_rows: int = PROBE_ROWS) -> int:
    """The most positions a pass may feed and still give every row the bits it gets among 2 rows.

    Measured, not assumed: for each distinct shape of the model's linear layers (bias included;
    GPT-2's ``Conv1D`` too), random rows are multiplied 2 at a time, then 3, 4, ... at a time; the
    first count whose rows differ ends the range. At least 2 (2 rows agree with themselves).
    """
    generator = torch.Generator().manual_seed(0)
    probes = {}  # one module per distinct multiply: (kind, in, out, bias)
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            key = ("linear", module.in_features, module.out_features, module.bias is not None)
        elif type(module).__name__ == "Conv1D" and module.weight.dim() == 2:  # GPT-2's layers
            key = ("conv1d", *module.weight.shape, True)
        else:
            continue
        probes.setdefault(key, module)
    largest = max_rows
    with torch.inference_mode():
        for (kind, n_in, _, _), module in probes.items():
            multiply = _linear_slice(module) if kind == "linear" else module
            x = torch.randn(max_rows, n_in, generator=generator).to(module.weight)
            pairs = torch.cat([multiply(x[j : j + 2]) for j in range(0, max_rows, 2)])
            for rows in range(3, largest + 1):
                if not torch.equal(multiply(x[:rows]), pairs[:rows]):
                    largest = rows - 1
                    break
    return largest


def _linear_slice(module: torch.nn.Linear):
    """The layer's multiply on its first ``PROBE_FEATURES`` outputs (a 151,936-row LM head in
    full would make the probe slow; a row's bits depend on the reduction, not the width)."""
    weight = module.weight[:PROBE_FEATURES]
    bias = None if module.bias is None else module.bias[:PROBE_FEATURES]
    return lambda x: F.linear(x, weight, bias)


def invariant_pieces(n: int, largest: int) -> list[int]:
    """Split ``n`` new positions into passes of at most ``largest``; a piece of 1 is padded later.

    >>> invariant_pieces(5, 32), invariant_pieces(70, 32), invariant_pieces(1, 32)
    ([5], [32, 32, 6], [1])
    """
    pieces = [largest] * (n // largest)
    if n % largest:
        pieces.append(n % largest)
    return pieces
