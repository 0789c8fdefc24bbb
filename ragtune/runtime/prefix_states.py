"""The KV state of the last prompt under each adapter set, kept across adapter switches.

A LoRA adapter changes the keys and values a prompt's tokens produce, so the in-process runtime
drops the KV cache whenever the adapter set changes (see :mod:`ragtune.runtime.llamacpp`). A Lab
comparison switches sets between modes (base, rag | lora, rag+lora), and without this store every
switch re-evaluates the shared system prompt. With it, the cache of the set being left is copied
out (llama.cpp's per-sequence state: just the KV cells, about 23 KB a token for SmolLM2-135M) and
the cache the set coming back had is copied in: the next request then evaluates only the tokens it
does not share with the last prompt that set saw.

Each saved state was computed under exactly its own set of adapters (and scales), so restoring it
is exact, not an approximation; a test checks that an answer after a restore equals a cold one.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any

#: How many adapter sets keep a state (least recently used dropped first).
MAX_STATES = 6
#: A state of more tokens than this is not kept (memory: ~23 KB a token for the default model).
MAX_TOKENS = 2048

AdapterKey = tuple[tuple[Any, float], ...]


class PrefixStates:
    """Saved KV states per adapter set for one ``llama_cpp.Llama`` (sequence 0). Not thread-safe:
    the runtime calls it under its model lock."""

    def __init__(self, llama_cpp: Any, *, max_states: int = MAX_STATES, max_tokens: int = MAX_TOKENS) -> None:
        self._llama_cpp = llama_cpp
        self._max_states = max_states
        self._max_tokens = max_tokens
        self._states: OrderedDict[AdapterKey, tuple[list[int], bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def save(self, llm: Any, key: AdapterKey) -> None:
        """Keep the tokens in ``llm``'s KV cache (what ``key``'s adapters computed) for later."""
        n = int(llm.n_tokens)
        if n == 0 or n > self._max_tokens:
            self._states.pop(key, None)
            return
        ctx = llm._ctx
        ctx.kv_cache_seq_rm(-1, n, -1)  # only the cells the token list describes
        size = self._llama_cpp.llama_state_seq_get_size(ctx.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = self._llama_cpp.llama_state_seq_get_data(ctx.ctx, buffer, size, 0)
        if not written:
            self._states.pop(key, None)
            return
        self._states[key] = (list(llm.input_ids[:n]), bytes(buffer)[:written])
        self._states.move_to_end(key)
        while len(self._states) > self._max_states:
            self._states.popitem(last=False)

    def restore(self, llm: Any, key: AdapterKey) -> int:
        """Put ``key``'s saved state into ``llm``'s KV cache; the number of tokens restored (0: none
        saved, or llama.cpp refused it, and the cache is empty)."""
        llm.reset()
        llm._ctx.kv_cache_clear()
        saved = self._states.get(key)
        if saved is None:
            return 0
        tokens, data = saved
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if self._llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buffer, len(data), 0) != len(data):
            self._states.pop(key, None)
            llm._ctx.kv_cache_clear()
            return 0
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        llm._requires_eval = True  # the logits are not live: an exactly cached prompt replays a token
        self._states.move_to_end(key)
        return len(tokens)

    def clear(self) -> None:
        self._states.clear()
