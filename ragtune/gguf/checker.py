"""Applying the key table to one file's header: a key of the wrong type or range raises, naming the key and the rule.

No message quotes the file's bytes: a message names the key and the rule it breaks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ragtune.errors import RagtuneError
from ragtune.gguf.keys import ALL_ARCH, KeyRule, V

_PRINTABLE = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


def shown_name(value: object) -> str | None:
    """A header string fit to quote in a message: a short name of safe characters, else None."""
    return value if isinstance(value, str) and _PRINTABLE.match(value) else None


def scalar(field: Any) -> Any:
    """A header field's value, or None when the reader cannot decode it."""
    try:
        return field.contents()
    except Exception:  # noqa: BLE001 - an odd field type must not make the whole file unreadable
        return None


class KeyChecker:
    """Applies key rules to one file's fields and raises ``error`` naming the key and the rule."""

    def __init__(
        self, path: Path, fields: Mapping[str, Any], architecture: str, error: type[RagtuneError]
    ):
        self.path = path
        self.fields = fields
        self.arch = architecture
        self.error = error

    def fail(self, text: str) -> RagtuneError:
        return self.error(f"{self.path.name}: {text}")

    def value(self, key: str) -> Any:
        field = self.fields.get(key)
        return scalar(field) if field is not None else None

    def check(self, rules: Iterable[KeyRule], *, n_layer: int | None = None) -> None:
        for rule in rules:
            self.check_one(rule, n_layer=n_layer)

    def check_one(self, rule: KeyRule, *, n_layer: int | None = None) -> None:
        key = rule.key.replace(ALL_ARCH, self.arch)
        field = self.fields.get(key)
        broken = f"the header key '{key_label(key)}' must be {rule.describe()}"
        if field is None:
            if rule.required:
                raise self.fail(f"the header key '{key}' is missing; it must be {rule.describe()}.")
            return
        types = list(field.types)
        is_array = bool(types) and types[0] == V.ARRAY
        if is_array:
            if rule.shape == "scalar" or len(types) != 2 or types[1] not in rule.array_types:
                raise self.fail(
                    f"{broken}, but it is stored as an array of {_type_name(types[1:])}."
                )
            n_items = len(field.data)
            if rule.shape == "per_layer" and n_layer is not None and n_items != n_layer:
                raise self.fail(f"{broken}; as an array it needs one value per layer ({n_layer}).")
            if rule.max_len is not None and n_items > rule.max_len:
                raise self.fail(f"{broken}.")
            if rule.shape == "array" and rule.required and n_items == 0:
                raise self.fail(f"{broken}, and not empty.")
            if types[1] == V.STRING:
                return
            if n_items and (rule.low is not None or rule.high is not None):
                items = np.concatenate([np.asarray(field.parts[i]).reshape(-1) for i in field.data])
                if not self._in_range_array(items, rule):
                    raise self.fail(f"{broken}; some of its items are out of range.")
            return
        if rule.shape == "array" or len(types) != 1 or types[0] not in rule.types:
            raise self.fail(f"{broken}, but it is stored as {_type_name(types)}.")
        value = scalar(field)
        if types[0] == V.STRING:
            raw = bytes(field.parts[-1])
            if rule.max_len is not None and len(raw) > rule.max_len:
                raise self.fail(f"{broken}.")
            if value is None:
                raise self.fail(f"the header key '{key}' is not valid UTF-8 text.")
            if rule.choices is not None and value not in rule.choices:
                raise self.fail(f"{broken}.")
            return
        if isinstance(value, bool) or types[0] == V.BOOL:
            return
        if value is None or not self._in_range(float(value), rule):
            raise self.fail(f"{broken}.")

    @staticmethod
    def _in_range(value: float, rule: KeyRule) -> bool:
        if not math.isfinite(value):
            return False
        if rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low):
            return False
        return rule.high is None or value <= rule.high

    @staticmethod
    def _in_range_array(items: np.ndarray, rule: KeyRule) -> bool:
        values = items.astype(np.float64)
        if not np.isfinite(values).all():
            return False
        if rule.low is not None and (
            (values <= rule.low).any() if rule.low_open else (values < rule.low).any()
        ):
            return False
        return rule.high is None or not (values > rule.high).any()

    def per_layer(
        self, key: str, n_layer: int, default: list[int] | None = None
    ) -> list[int] | None:
        """A per-layer key's values (already type-checked), or ``default`` when absent."""
        field = self.fields.get(key.replace(ALL_ARCH, self.arch))
        if field is None:
            return default
        if field.types[0] == V.ARRAY:
            return [int(np.asarray(field.parts[i]).reshape(-1)[0]) for i in field.data]
        return [int(scalar(field))] * n_layer


def key_label(key: str) -> str:
    """A key name fit for a message: the table's keys as they are; a key named by the file
    (``tokenizer.chat_template.<name>``) only when its name is short and plain."""
    prefix, _, rest = key.partition("tokenizer.chat_template.")
    if not prefix and rest and not shown_name(rest):
        return "tokenizer.chat_template.<one of its named templates>"
    return key


def _type_name(types: list[Any]) -> str:
    if not types:
        return "nothing"
    try:
        names = [V(t).name for t in types]
    except ValueError:
        return "an unknown type"
    if names[0] == "ARRAY":
        return "an array of " + _type_name(types[1:])
    return "a " + names[0]
