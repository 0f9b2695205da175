"""The ``amlses`` process's start-up runs without the garbage collector, which then resumes.

Before its first request a run builds ~65,000 objects that live as long as the process —
modules, click's commands, the parsed task, botocore's — and next to no garbage.  CPython's
collector still runs every 700 allocations and, once enough objects have survived, walks all
of them: ~60 ms of CPU in a 0.5 s seed run, spent proving that nothing is garbage.  So the
command's own process (``amlses`` or ``python -m amlses``, never a program that embeds the
CLI or calls :mod:`amlses.api`: their memory is theirs to manage) pauses the collector while it
starts and, once start-up is over, freezes what was built (:func:`gc.freeze`: the collector
never walks those objects again) and resumes it, so the task itself runs with the collector
on, however long it runs.
"""

from __future__ import annotations

import gc

__all__ = ["in_own_process", "pause", "paused", "resume"]


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
