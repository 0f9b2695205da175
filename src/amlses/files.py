"""Reading the files a task names — the task itself, subtasks, bodies, CSV lists — safely.

Every read is bounded and of regular files only: a task that names ``/dev/zero``, a FIFO or a
folder fails at once with a clear reason instead of hanging or filling memory.  Text is decoded
the way Automate's Windows users save it: UTF-8 with or without a byte-order mark, UTF-16 with a
byte-order mark (Notepad's "Unicode"), else Windows-1252.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path


class FileTooLargeError(OSError):
    """The file is larger than the reader's limit; ``size`` says how large it is."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(f"{path} is {size:,} bytes; amlses reads at most {limit:,}")
        self.strerror = f"the file is {size:,} bytes; amlses reads at most {limit:,}"
        self.size = size
        self.limit = limit


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refusing anything larger than ``limit``.

    The file is opened without blocking (a FIFO would otherwise wait for a writer forever) and
    checked with ``fstat`` on the open descriptor, so what is checked is what is read.  Raises
    :class:`OSError` (``strerror`` says why) or :class:`FileTooLargeError`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            error = OSError(f"{path} is not a regular file")
            error.strerror = "not a regular file"
            raise error
        if info.st_size > limit:
            raise FileTooLargeError(str(path), info.st_size, limit)
        data = file.read(limit + 1)
    if len(data) > limit:  # grew while being read
        raise FileTooLargeError(str(path), len(data), limit)
    return data


def resolve_task_path(written: str, task_file: str) -> str:
    """A path written in a task, as a path to open here.

    Automate's tasks write Windows paths; on other systems backslashes are read as folder
    separators, so ``data\\list.csv`` beside the task works everywhere.  A relative path is
    taken from the folder of ``task_file``, the task the path is written in, which is what its
    author saw when writing it (a subtask's own folder, not the root task's).
    """
    text = os.path.expanduser(written.strip())
    if os.sep == "/":
        text = text.replace("\\", "/")
    if os.path.isabs(text) or not task_file or task_file.startswith("<"):
        return text
    return os.path.join(os.path.dirname(task_file), text)


def decode_text(data: bytes) -> str:
    """Text as Windows tools save it: a UTF-16 or UTF-8 byte-order mark decides; without one,
    UTF-8 when it decodes, else Windows-1252 (the encoding of older Automate installs)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")
