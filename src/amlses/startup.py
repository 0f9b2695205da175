"""The ``amlses`` process's start-up runs without the garbage collector, and so does its exit.

Before its first request a run builds ~65,000 objects that live as long as the process —
modules, click's commands, the parsed task, botocore's — and next to no garbage.  CPython's
collector still runs every 700 allocations and, once enough objects have survived, walks all
of them: ~60 ms of CPU in a 0.5 s seed run, spent proving that nothing is garbage.  So the
command's own process (``amlses`` or ``python -m amlses``, never a program that embeds the
CLI or calls :mod:`amlses.api`: their memory is theirs to manage) pauses the collector while it
starts and, once start-up is over, freezes what was built (:func:`gc.freeze`: the collector
never walks those objects again) and resumes it, so the task itself runs with the collector
on, however long it runs.

Exiting has the same cost the other way round: the interpreter's last collection walks every
object once more, and the module teardown before it turns modules, classes and functions into
cyclic garbage that it then frees one by one — ~50 ms of CPU for memory the operating system
takes back at once.  :func:`exiting` freezes everything first, so that collection has nothing
to walk.  What exit still does is unchanged: ``atexit`` handlers, ``finally`` blocks and
``with`` blocks have run, threads are joined and the standard streams flushed; only objects
that nothing refers to any more and that wait in a reference cycle for the collector are not
finalized, which the interpreter never promised at exit anyway.
"""

from __future__ import annotations

import gc

__all__ = ["exiting", "in_own_process", "pause", "paused", "resume"]


class _State:
    own_process = False  # set by the console-script entry point
    paused = False  # the collector is off because of pause()


def in_own_process() -> None:
    """Say that this process is the ``amlses`` command (its entry point calls this)."""
    _State.own_process = True


def pause() -> None:
    """Turn the collector off for start-up, in the command's own process only (and only if
    it is on: a collector someone turned off stays off)."""
    if _State.own_process and not _State.paused and gc.isenabled():
        gc.disable()
        _State.paused = True


def paused() -> bool:
    """Whether start-up is under way with the collector paused."""
    return _State.paused


def resume(*, freeze: bool = True) -> None:
    """End start-up: freeze what it built (unless ``freeze`` is False, for a start-up that
    failed) and turn the collector back on.  Does nothing unless :func:`pause` turned it off;
    safe to call twice."""
    if not _State.paused:
        return
    _State.paused = False
    if freeze:
        gc.freeze()
    gc.enable()


def exiting() -> None:
    """The command is done: freeze every object, so the interpreter's exit does not collect
    them one by one (in the command's own process only)."""
    if _State.own_process:
        gc.freeze()
