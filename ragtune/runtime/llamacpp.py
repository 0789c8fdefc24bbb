"""The in-process runtime on llama-cpp-python, with hot-swapped LoRA adapters.

One :class:`LlamaCppRuntime` holds one model for the whole process. Adapters are
loaded once with ``llama_adapter_lora_init`` and attached per request with
``llama_set_adapters_lora``; the model is never reloaded to switch them.

Why the reset: llama-cpp-python's ``Llama.generate`` reuses the previous prompt's
KV cache as a prefix. The cached keys and values were computed with whatever
adapters were on at the time, so when the adapter set changes the prefix must be
dropped (``Llama.reset()``), or a "base" answer would be computed partly with the
adapter still applied. The prefix computed under each set is kept aside instead of lost
(:mod:`ragtune.runtime.prefix_states`), so a switch back evaluates only the new tokens.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ragtune.errors import AdapterError, InputError, RuntimeBackendError
from ragtune.gguf.files import check_adapter_file
from ragtune.gguf.summary import GGUFSummary
from ragtune.runtime.base import (
    AdapterInfo,
    AdapterUse,
    ChatMessage,
    Completion,
    CompletionResult,
    GenerationOptions,
    ModelLock,
    Runtime,
    Timings,
    _Finisher,
    validate_messages,
)
from ragtune.runtime.prefix_states import PrefixStates
from ragtune.runtime.stops import FinishReason, StopScanner


# The JSON string character of llama-cpp-python's grammar converter, and the one JSON allows (no
# raw control characters), as upstream llama.cpp writes it.
_LOOSE_JSON_CHAR = 'char ::= [^"\\\\] |'
_STRICT_JSON_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 3)


class LlamaCppRuntime(Runtime):
    """A GGUF chat model run in process by llama.cpp.

    Args:
        model_path: A GGUF model file, already checked (see ``ModelRegistry.verify``).
        summary: The file's header summary (used to check adapters against it).
        model_id: The registry id, reported with every answer.
        n_ctx: Context window in tokens.
        n_threads: CPU threads for generation and prompt evaluation.
        n_batch: Prompt-eval batch size.
        seed: Default sampling seed.
        flash_attn: llama.cpp's flash attention (faster prompt evaluation and generation on CPU).
        prefix_states: Keep the KV state of each adapter set's last prompt across adapter switches.

    Raises:
        RuntimeBackendError: llama.cpp could not load the model.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        summary: GGUFSummary,
        model_id: str,
        n_ctx: int = 4096,
        n_threads: int = 2,
        n_batch: int = 512,
        seed: int = 42,
        flash_attn: bool = True,
        prefix_states: bool = True,
    ) -> None:
        import llama_cpp
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama_cpp = llama_cpp
        self.model_id = model_id
        self.summary = summary
        self.model_path = Path(model_path)
        try:
            self._llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=min(n_batch, n_ctx),
                seed=seed,
                flash_attn=flash_attn,
                verbose=False,
            )
        except Exception as exc:  # ValueError "Failed to load model from file", or a template error
            # llama.cpp's own reason went to the silenced stderr; the exception text names
            # at most the path, never the file's content
            raise RuntimeBackendError(
                f"llama.cpp could not load {Path(model_path).name} ({type(exc).__name__}). Check that "
                "the file is a complete GGUF chat model and that RAGTUNE_N_CTX fits in memory."
            ) from exc
        try:
            self.n_ctx = self._llm.n_ctx()
            template = self._llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise RuntimeBackendError(
                    f"{Path(model_path).name} has no chat template (tokenizer.chat_template); "
                    "ragtune needs an instruct/chat model."
                )
            eos_id, bos_id = self._llm.token_eos(), self._llm.token_bos()
            model = self._llm._model
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
                bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
                stop_token_ids=[eos_id],
            )
        except Exception as exc:
            self._llm.close()
            if isinstance(exc, RuntimeBackendError):
                raise
            raise RuntimeBackendError(
                f"{Path(model_path).name} loaded, but its chat template or special tokens cannot be "
                f"used ({type(exc).__name__}). Pick another model file."
            ) from exc
        self._lock = ModelLock()
        self._adapters_lock = threading.Lock()
        self._loaded: dict[Path, tuple[AdapterInfo, object]] = {}
        self._active: tuple[tuple[Path, float], ...] = ()
        self._prefixes = PrefixStates(llama_cpp) if prefix_states else None
        self._closed = False

    # -- adapters --------------------------------------------------------------------------
    def load_adapter(self, path: Path, *, name: str | None = None) -> AdapterInfo:
        path = Path(path).expanduser().resolve()
        with self._adapters_lock:
            if path in self._loaded:
                return self._loaded[path][0]
            summary = check_adapter_file(path, self.summary)
            start = time.perf_counter()
            handle = self._llama_cpp.llama_adapter_lora_init(
                self._llm._model.model, str(path).encode()
            )
            load_ms = _ms(start, time.perf_counter())
            if not handle:
                raise AdapterError(
                    f"llama.cpp refused the adapter {path.name} although its header looked right; "
                    "export it again."
                )
            ranks = {shape[1] for t, shape in summary.tensors.items() if t.endswith(".lora_a")}
            alpha = summary.metadata.get("adapter.lora.alpha")
            info = AdapterInfo(
                name=name or path.stem,
                path=path,
                size_bytes=summary.size_bytes,
                rank=ranks.pop() if len(ranks) == 1 else None,
                alpha=float(alpha) if isinstance(alpha, (int, float)) else None,
                n_tensors=len(summary.tensors),
                load_ms=load_ms,
            )
            self._loaded[path] = (info, handle)
            return info

    def loaded_adapters(self) -> list[AdapterInfo]:
        with self._adapters_lock:
            return [info for info, _ in self._loaded.values()]

    def _apply_adapters(self, adapters: Sequence[AdapterUse]) -> float:
        """Attach exactly ``adapters`` to the context (caller holds the model lock).

        Returns the switch time in ms (0 when the set did not change).
        """
        wanted = tuple((use.path, float(use.scale)) for use in adapters)
        if wanted == self._active:
            return 0.0
        handles = []
        for use in adapters:
            if use.path not in self._loaded:
                self.load_adapter(use.path)
            handles.append(self._loaded[use.path][1])
        start = time.perf_counter()
        ctx = self._llm._ctx.ctx
        if handles:
            array = (self._llama_cpp.llama_adapter_lora_p_ctypes * len(handles))(*handles)
            scales = (ctypes.c_float * len(handles))(*(scale for _, scale in wanted))
            status = self._llama_cpp.llama_set_adapters_lora(ctx, array, len(handles), scales)
        else:
            status = self._llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        if status != 0:
            raise AdapterError(f"llama.cpp could not attach the adapters (status {status}).")
        # The cached prefix was computed under the old adapter set: set it aside, and take back the
        # one computed under the new set, if any (else start from an empty cache).
        if self._prefixes is not None:
            self._prefixes.save(self._llm, self._active)
            self._prefixes.restore(self._llm, wanted)
        else:
            self._llm.reset()
        self._active = wanted
        return _ms(start, time.perf_counter())

    # -- generation ------------------------------------------------------------------------
    def _prompt_tokens(self, messages: Sequence[ChatMessage]) -> tuple[list[int], list[str]]:
        try:
            formatted = self._formatter(messages=[m.model_dump() for m in messages])
        except Exception as exc:  # the template comes from the file: it may raise anything
            raise RuntimeBackendError(
                f"The chat template of {self.model_path.name} failed on this conversation "
                f"({type(exc).__name__}). Pick another model file."
            ) from exc
        tokens = self._llm.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        stops = [
            s
            for s in (formatted.stop if isinstance(formatted.stop, list) else [formatted.stop])
            if s
        ]
        return tokens, stops

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self._prompt_tokens(validate_messages(messages))[0])

    def count_tokens(self, text: str) -> int:
        # The vocabulary alone, not the context: no need to queue for the model lock.
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _cached_prefix(self, tokens: list[int]) -> int:
        """How many prompt tokens ``Llama.generate`` will take from the KV cache."""
        if self._llm.n_tokens == 0:
            return 0
        common = 0
        for cached, new in zip(self._llm._input_ids, tokens):
            if cached != new:
                break
            common += 1
        if common == len(tokens):  # the whole prompt cached: one token is replayed
            return max(common - 1, 0)
        return common

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        adapters: Sequence[AdapterUse] = (),
        options: GenerationOptions | None = None,
    ) -> Completion:
        messages = validate_messages(messages)
        options = options or GenerationOptions()
        adapters = list(adapters)
        for use in adapters:  # check and load up front, so errors surface before streaming
            self.load_adapter(use.path)
        grammar = self._json_grammar(options.json_schema) if options.json_schema is not None else None
        finisher = _Finisher()
        pieces = self._generate(messages, adapters, options, grammar, finisher)
        return Completion(pieces, finisher)

    def _json_grammar(self, schema: dict[str, object]) -> object:
        """llama.cpp's grammar for JSON of ``schema``, checked to parse.

        The converter of llama-cpp-python 0.3.36 lets a string hold raw control characters (a
        line break, a tab), which JSON forbids: a "constrained" answer could then fail to parse.
        Its string character rule is tightened here as upstream llama.cpp's converter has it.

        Raises:
            InputError: the schema cannot be turned into a grammar llama.cpp parses.
        """
        from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

        try:
            gbnf = json_schema_to_gbnf(json.dumps(schema))
        except Exception as exc:
            raise InputError(f"The JSON schema cannot be turned into a grammar: {exc}") from exc
        gbnf = gbnf.replace(_LOOSE_JSON_CHAR, _STRICT_JSON_CHAR)
        grammar = LlamaGrammar.from_string(gbnf, verbose=False)
        # llama.cpp parses the grammar only when sampling starts, and a grammar it cannot parse
        # would leave the output unconstrained without a word: parse it here, once, first.
        parsed = self._llama_cpp.llama_sampler_init_grammar(
            self._llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not parsed:
            raise InputError("llama.cpp cannot parse the grammar made from this JSON schema (an empty "
                             "enum, for one): the output would not be constrained.")
        self._llama_cpp.llama_sampler_free(parsed)
        return grammar

    def _generate(
        self,
        messages: list[ChatMessage],
        adapters: list[AdapterUse],
        options: GenerationOptions,
        grammar: object,
        finisher: _Finisher,
    ) -> Iterator[str]:
        start = time.perf_counter()
        if self._closed:
            raise RuntimeBackendError("The model has been closed.")
        queue_wait_ms = self._lock.acquire()
        try:
            switch_ms = self._apply_adapters(adapters)
            tokens, stops = self._prompt_tokens(messages)
            if len(tokens) + options.max_tokens > self.n_ctx:
                raise InputError(
                    f"The prompt has {len(tokens)} tokens; with up to {options.max_tokens} answer "
                    f"tokens it exceeds the context window of {self.n_ctx}. Shorten the input, "
                    "lower the answer length, or raise RAGTUNE_N_CTX."
                )
            scanner = StopScanner([*stops, *options.stop], json_end=options.stop_at_json_end,
                                  repetition=options.repetition)
            cached = self._cached_prefix(tokens)
            self._llm.set_seed(options.seed)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            vocab = self._llm._model.vocab
            hold = scanner.hold
            text = ""
            emitted = 0
            n_out = 0
            n_eog = 0
            finish: FinishReason = "length"
            t_eval = time.perf_counter()
            t_first = t_last = None
            try:
                for token in self._llm.generate(
                    tokens,
                    temp=options.temperature,
                    top_p=options.top_p,
                    top_k=options.top_k,
                    min_p=0.0 if options.temperature == 0 else 0.05,
                    repeat_penalty=options.repeat_penalty,
                    grammar=grammar,
                ):
                    now = time.perf_counter()
                    if t_first is None:
                        t_first = now
                    t_last = now
                    n_out += 1
                    if self._llama_cpp.llama_vocab_is_eog(vocab, token):
                        # Sampled and timed like any token, but not part of the answer
                        # (llama-cpp-python's usage counts it the same way).
                        n_eog = 1
                        finish = "stop"
                        break
                    text += decoder.decode(self._llm.detokenize([token]))
                    # Leaving the loop early leaves llama.cpp's state as a stop string does: the
                    # tokens evaluated so far stay in the KV cache (a valid prefix for the next
                    # request under the same adapters), and the lock is released below.
                    stop = scanner.scan(text)
                    if stop is not None:
                        text, finish = text[: stop.end], stop.reason
                        break
                    safe = len(text) - hold
                    if safe > emitted:
                        yield text[emitted:safe]
                        emitted = safe
                    if n_out >= options.max_tokens or (
                        options.free_text_max_tokens is not None and scanner.json_object is False
                        and n_out >= options.free_text_max_tokens
                    ):
                        break
            except InputError:
                raise
            except Exception as exc:
                # The context may hold a half-evaluated prompt: start clean next time.
                self._llm.reset()
                raise RuntimeBackendError(f"llama.cpp failed while generating: {exc}") from exc
            text += decoder.decode(b"", final=True)
            if finish == "length":
                stop = scanner.scan(text, final=True)
                if stop is not None:
                    text, finish = text[: stop.end], stop.reason
            if len(text) > emitted:
                yield text[emitted:]
            end = time.perf_counter()
            t_first = t_first or end
            t_last = t_last or end
            generation_s = t_last - t_first
            timings = Timings(
                queue_wait_ms=round(queue_wait_ms, 3),
                adapter_switch_ms=switch_ms,
                prompt_tokens=len(tokens),
                cached_prompt_tokens=cached,
                prompt_eval_ms=_ms(t_eval, t_first),
                ttft_ms=_ms(start, t_first),
                generation_ms=round(generation_s * 1000.0, 3),
                completion_tokens=n_out - n_eog,
                tokens_per_s=round((n_out - 1) / generation_s, 2)
                if n_out > 1 and generation_s > 0
                else 0.0,
                total_ms=_ms(start, end),
            )
            finisher.result = CompletionResult(
                text=text,
                finish_reason=finish,
                model_id=self.model_id,
                adapters=adapters,
                timings=timings,
            )
        finally:
            self._lock.release()

    def last_token_logits(
        self, messages: Sequence[ChatMessage], *, adapters: Sequence[AdapterUse] = ()
    ) -> list[float]:
        """The next-token logits after the prompt of ``messages``, with exactly ``adapters`` on.

        Used to check an exported adapter against the framework that trained it: greedy
        text hides small numeric errors that the logits show.
        """
        import numpy as np

        messages = validate_messages(messages)
        adapters = list(adapters)
        for use in adapters:
            self.load_adapter(use.path)
        self._lock.acquire()
        try:
            self._apply_adapters(adapters)
            tokens, _ = self._prompt_tokens(messages)
            self._llm.reset()  # evaluate the whole prompt: no prefix from another request
            self._llm.eval(tokens)
            n_vocab = self._llm.n_vocab()
            return (
                np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(n_vocab,))
                .astype(float)
                .tolist()
            )
        finally:
            self._lock.release()

    def reset_cache(self) -> None:
        """Forget the reusable prompt prefixes, so the next request evaluates its whole prompt."""
        self._lock.acquire()
        try:
            self._llm.reset()
            if self._prefixes is not None:
                self._prefixes.clear()
        finally:
            self._lock.release()

    def close(self) -> None:
        """Free the model (and with it its adapters)."""
        self._lock.acquire()
        try:
            if not self._closed:
                self._closed = True
                self._llm.close()
        finally:
            self._lock.release()
