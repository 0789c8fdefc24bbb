"""Smoke test: the real default model (SmolLM2-135M-Instruct Q4_1) loads and answers."""

from __future__ import annotations

import pytest

from ragtune.config import load_settings
from ragtune.runtime import ChatMessage, GenerationOptions, load_runtime

pytestmark = pytest.mark.slow


def test_the_default_model_answers_a_question():
    runtime = load_runtime(load_settings(n_ctx=1024))
    try:
        result = runtime.chat(
            [ChatMessage(role="user", content="Name one colour of the rainbow.")],
            options=GenerationOptions(max_tokens=32),
        )
    finally:
        runtime.close()
    assert result.model_id == "smollm2-135m-instruct-q8_0"
    assert len(result.text.split()) >= 2
    assert result.timings.completion_tokens > 1 and result.timings.tokens_per_s > 0
