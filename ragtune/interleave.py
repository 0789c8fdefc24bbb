"""Several streams read at once, as one: each in its own thread, their items in the order they arrive.

The Lab sends a comparison's modes to a model server together (:func:`ragtune.lab.compare` with
``concurrent``): each mode's stream is read in a thread of its own, and the page draws every item in
the script's thread as it comes (Streamlit calls belong there). :func:`interleave` is that fan-in:

- items come as :class:`Item` (which stream, what), in arrival order; a stream's own order is kept;
- when nothing arrives for ``quiet_after_s``, a :class:`Quiet` says how long the streams have run, so a
  reader drawing a page still gets control back (Streamlit stops a script at its next call: a closed
  tab or a rerun must not wait for the slowest server);
- closing the generator stops every stream: each thread closes its stream after the item it is
  reading (a stream still waiting for its first item stops when that arrives; a server stream also
  ends at its own timeout);
- an exception a stream raises (other than those it turns into items itself) is raised to the
  reader, after the other streams are told to stop: nothing is lost in a thread.

Examples:
    >>> items = interleave([lambda: iter("ab"), lambda: iter("c")])
    >>> sorted((i.source, i.value) for i in items if isinstance(i, Item))
    [(0, 'a'), (0, 'b'), (1, 'c')]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Item(Generic[T]):
    """An item of stream ``source`` (its index in the list given to :func:`interleave`)."""

    source: int
    value: T


@dataclass(frozen=True)
class Quiet:
    """Nothing arrived for a while; the streams have run ``elapsed_s`` seconds so far."""

    elapsed_s: float


@dataclass(frozen=True)
class _Ended:
    source: int


@dataclass(frozen=True)
class _Raised:
    source: int
    error: BaseException


def interleave(streams: Sequence[Callable[[], Iterator[T]]], *, quiet_after_s: float = 1.0,
               name: str = "stream") -> Generator[Item[T] | Quiet, None, None]:
    """Open each of ``streams`` (call it) and read it in its own thread; yield the items as they arrive.

    Args:
        streams: functions that open a stream (called in the stream's thread, so opening may block too).
        quiet_after_s: after this long without an item, yield :class:`Quiet` (and again each time).
        name: the threads' name prefix (seen in a thread dump).

    Raises:
        BaseException: whatever a stream raised, once the others are told to stop.
    """
    queue: SimpleQueue[Item[T] | _Ended | _Raised] = SimpleQueue()
    stop = threading.Event()

    def read(source: int, open_stream: Callable[[], Iterator[T]]) -> None:
        try:
            if stop.is_set():
                return
            stream = open_stream()
            try:
                for value in stream:
                    if stop.is_set():
                        break  # the reader is gone: closing the stream frees the model or the connection
                    queue.put(Item(source, value))
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        except BaseException as error:  # handed to the reader, who raises it in its own thread
            queue.put(_Raised(source, error))
            return
        queue.put(_Ended(source))

    threads = [threading.Thread(target=read, args=(i, s), name=f"{name}-{i}", daemon=True)
               for i, s in enumerate(streams)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            try:
                message = queue.get(timeout=quiet_after_s)
            except Empty:
                yield Quiet(elapsed_s=time.monotonic() - started)
                continue
            if isinstance(message, _Ended):
                running -= 1
            elif isinstance(message, _Raised):
                raise message.error
            else:
                yield message
    finally:
        stop.set()  # on close, on an error, or at the end (then a no-op): no thread keeps reading
