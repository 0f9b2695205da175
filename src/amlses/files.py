"""Reading the files a task names — the task itself, subtasks, bodies, CSV lists — safely.

Every read is bounded and of regular files only: a task that names ``/dev/zero``, a FIFO or a
folder fails at once with a clear reason instead of hanging or filling memory.  Text is decoded
the way Automate's Windows users save it: UTF-8 with or without a byte-order mark, UTF-16 with a
byte-order mark (Notepad's "Unicode"), else Windows-1252 — decided once per file, never per
chunk, so one stray byte cannot turn every ``é`` of a file into ``Ã©``.  A file holding NUL or
other control bytes is not text and is refused, and no message here ever quotes a raw control
character (:func:`printable`), so a hostile file name cannot drive the user's terminal.

Tasks are full of Windows paths (``C:\\Temp\\…``, ``\\\\server\\share\\…``); :class:`PathMap`
maps them to folders here (``amlses run --map-path 'C:\\=/srv/c/'``), and an unmapped one is a
clear error rather than a file literally named ``C:\\Temp\\x.log`` in the current folder.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from encodings import cp1252
from pathlib import Path

from .errors import UsageError

#: the environment variable holding path mappings, ``;``-separated (``;;`` is a literal ``;``)
PATH_MAP_ENV = "AMLSES_PATH_MAP"

#: bytes Windows-1252 leaves undefined; Windows maps each to the C1 control of the same number
CP1252_UNDEFINED = frozenset(b for b, char in enumerate(cp1252.decoding_table) if char == "\ufffe")
#: Windows-1252 as Windows decodes it: the five undefined bytes kept (a Latin-1 fallback),
#: never replaced by U+FFFD, so what was read can be written back byte for byte
_CP1252_TABLE = "".join(
    chr(b) if char == "\ufffe" else char for b, char in enumerate(cp1252.decoding_table)
)
#: what makes a file "not text": C0 controls but tab, LF, FF and CR, and DEL
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: what :func:`printable` escapes: every C0 and C1 control and DEL
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NATIVE_WINDOWS = os.name == "nt"


class FileTooLargeError(OSError):
    """The file is larger than the reader's limit; ``size`` says how large it is."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(f"{path} is {size:,} bytes; amlses reads at most {limit:,}")
        self.strerror = f"the file is {size:,} bytes; amlses reads at most {limit:,}"
        self.size = size
        self.limit = limit


class NotTextError(ValueError):
    """The bytes are not a text file; ``reason`` says why in words fit for a message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DecodedText(str):
    """Decoded text that remembers how it was decoded.

    A ``str`` subclass, so that every function that takes task text keeps working, while the
    loader and the CLI can still tell a Windows-1252 file (``note`` says so, at
    ``note_line``:``note_column``, the first byte that is not UTF-8) from a UTF-8 one.
    """

    encoding: str
    note: str | None
    note_line: int
    note_column: int

    def __new__(
        cls, text: str, encoding: str, note: str | None = None, line: int = 1, column: int = 1
    ) -> DecodedText:
        self = super().__new__(cls, text)
        self.encoding = encoding
        self.note = note
        self.note_line = line
        self.note_column = column
        return self


#: control characters that could drive a terminal (ESC sequences, carriage returns, C1 codes);
#: tab and newline are layout and stay
_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` with every control character but tab and newline written as ``\\xNN``.

    A task's values come from files, datasets and SES; one holding ``ESC [ 2 J`` must show as
    text, never clear the user's screen or fake a line of output (step lines, messages,
    tables and error paragraphs all pass through this).
    """
    return _TERMINAL_CONTROL.sub(_escaped, text)


def _escaped(found: re.Match[str]) -> str:
    return f"\\x{ord(found.group()):02x}"


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (``\\n`` too), for quoting
    file names and file content in a message without letting them drive the terminal."""
    return _CONTROL.sub(_escaped, text)


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refusing anything larger than ``limit``.

    The file is opened without blocking (a FIFO would otherwise wait for a writer forever) and
    checked with ``fstat`` on the open descriptor, so what is checked is what is read.  Raises
    :class:`OSError` (``strerror`` says why) or :class:`FileTooLargeError`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        if stat.S_ISDIR(info.st_mode):
            error = OSError(f"{path} is a folder")
            error.strerror = "it is a folder, not a file"
            raise error
        if not stat.S_ISREG(info.st_mode):
            error = OSError(f"{path} is not a regular file")
            error.strerror = "not a regular file (a device, FIFO or socket)"
            raise error
        if info.st_size > limit:
            raise FileTooLargeError(str(path), info.st_size, limit)
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:  # grew while being read
        raise FileTooLargeError(str(path), len(data), limit)
    return data


def decode_text(data: bytes) -> DecodedText:
    """Text as Windows tools save it, decided once for the whole file.

    A UTF-16 (LE or BE) or UTF-8 byte-order mark decides; without one, UTF-8 when the whole
    file decodes, else Windows-1252 with a ``note`` saying so (the encoding of older Automate
    installs; its five undefined bytes are kept as the C1 controls Windows maps them to, and
    named in the note).  Raises :class:`NotTextError` for a file that holds NUL or other control
    characters (binary data) or that breaks the encoding its byte-order mark announces.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        big = data.startswith(codecs.BOM_UTF16_BE)
        encoding = "UTF-16 BE" if big else "UTF-16 LE"
        try:
            text = data[2:].decode("utf-16-be" if big else "utf-16-le")
        except UnicodeDecodeError as exc:
            raise NotTextError(
                f"it starts with a {encoding} byte-order mark but is not valid UTF-16 "
                f"({exc.reason} at byte {exc.start + 2})"
            ) from None
        return DecodedText(_text_only(text), encoding)
    if data.startswith(codecs.BOM_UTF8):
        try:
            text = data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _line_column(data, exc.start + 3)
            raise NotTextError(
                f"it starts with a UTF-8 byte-order mark but is not valid UTF-8 (byte "
                f"0x{data[exc.start + 3]:02X} at line {line}, column {column})"
            ) from None
        return DecodedText(_text_only(text), "UTF-8 with BOM")
    try:
        return DecodedText(_text_only(data.decode("utf-8")), "UTF-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    text = _text_only(codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0])
    line, column = _line_column(data, bad)
    note = (
        f"not valid UTF-8 (byte 0x{data[bad]:02X} at line {line}, column {column}) and has "
        "no byte-order mark: read as Windows-1252, as Automate on Windows writes it"
    )
    undefined = sorted(CP1252_UNDEFINED.intersection(data))
    if undefined:
        note += "; " + ", ".join(f"0x{b:02X}" for b in undefined)
        note += " (undefined in Windows-1252) kept as " + ", ".join(f"U+{b:04X}" for b in undefined)
    return DecodedText(text, "Windows-1252", note, line, column)


def _text_only(text: str) -> str:
    """``text``, or :class:`NotTextError` naming the first control character that marks it as
    binary data (where a text file holds only printable characters, tabs, line and form feeds)."""
    found = _NOT_TEXT.search(text)
    if found is None:
        return text
    start = found.start()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    code = ord(found.group())
    what = "a NUL byte" if code == 0 else f"the control character 0x{code:02X}"
    raise NotTextError(f"it is not a text file ({what} at line {line}, column {column})")


def _line_column(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


# --------------------------------------------------------------------------------------------
# Windows paths


class UnmappedPathError(UsageError):
    """A Windows drive or UNC path that no :class:`PathMap` entry maps to a folder here.

    A :class:`~amlses.errors.UsageError` on the command line (the TASK argument); the runtime
    turns it into a step failure when a step names the path (:meth:`Context.resolve_path`).
    """

    code = "PathNotMapped"

    def __init__(self, path: str) -> None:
        parts = _windows_parts(path)
        if parts is not None and parts[0] == "//":
            share = "\\".join(parts[1:3])
            example, what = f"\\\\{share}=/mnt/share/", "share"
        else:
            drive = parts[0] if parts else "C:"
            example, what = f"{drive.upper()}\\=/srv/{drive[0].lower()}/", "drive"
        written = printable(path.strip().replace("/", "\\"))  # as Windows writes it
        super().__init__(
            f"{written} is a Windows path and no --map-path maps its {what} to a "
            f"folder here: run with --map-path '{example}' (or set {PATH_MAP_ENV})"
        )
        self.path = path


def _windows_parts(path: str) -> tuple[str, ...] | None:
    """A Windows path as (root, components…): root ``C:`` or ``//``; None for other paths.

    ``.`` and ``..`` are resolved as Windows resolves them: ``..`` never climbs above the
    drive or the share (``//``, server and share are the fixed head of a UNC path).
    """
    text = path.strip().replace("\\", "/")
    if re.match(r"[A-Za-z]:", text):  # C:\…, C:/…, and drive-relative C:x, read from the root
        root, rest, head = text[:2], text[2:], 1
    elif re.match(r"//[^/]", text):
        root, rest, head = "//", text[2:], 3
    else:
        return None
    parts = [root]
    for part in rest.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if len(parts) > head:
                parts.pop()
            continue
        parts.append(part)
    return tuple(parts)


@dataclass(frozen=True)
class PathMap:
    """Where Windows paths written in a task live on this machine.

    Entries map a drive (``C:\\``), a folder on one (``C:\\Temp``) or a share
    (``\\\\server\\share``) to a local folder.  The longest matching prefix wins; matching is
    component by component and case-insensitive, as on Windows.  A Windows path that no entry
    maps is an :class:`UnmappedPathError` (except on Windows itself, where it is simply used).
    """

    #: (Windows prefix as (root, components…) case-folded, prefix as written, local folder)
    entries: tuple[tuple[tuple[str, ...], str, str], ...] = ()

    @classmethod
    def parse(cls, spec: str, where: str = "--map-path") -> PathMap:
        """One ``WINDOWS=LOCAL`` mapping, e.g. ``C:\\=/srv/c/``; the first ``=`` separates.

        A relative local folder is taken from the current folder.  A bad spec is a
        :class:`~amlses.errors.UsageError` naming ``where`` it came from.
        """
        windows, equals, local = spec.partition("=")
        parts = _windows_parts(windows)
        if not equals or parts is None or not local.strip():
            raise UsageError(
                f"{where} takes WINDOWS=LOCAL, a drive or share and a folder here, e.g. "
                f"'C:\\=/srv/c/' or '\\\\server\\share=/mnt/share', not '{printable(spec)}'"
            )
        key = tuple(part.casefold() for part in parts)
        target = os.path.abspath(os.path.expanduser(local.strip()))
        return cls(((key, windows.strip(), target),))

    @classmethod
    def parse_list(cls, text: str, where: str = PATH_MAP_ENV) -> PathMap:
        """Mappings separated by ``;`` (``;;`` stands for a ``;`` inside a path)."""
        specs = [spec.replace("\0", ";") for spec in text.replace(";;", "\0").split(";")]
        return cls.combined(cls.parse(spec, where) for spec in specs if spec.strip())

    @classmethod
    def combined(cls, maps: Iterable[PathMap]) -> PathMap:
        """The entries of ``maps``; for the same prefix, a later map's entry replaces."""
        entries: dict[tuple[str, ...], tuple[tuple[str, ...], str, str]] = {}
        for one in maps:
            for entry in one.entries:
                entries.pop(entry[0], None)
                entries[entry[0]] = entry
        return cls(tuple(entries.values()))

    @classmethod
    def from_sources(cls, specs: Iterable[str], environ: Mapping[str, str]) -> PathMap:
        """``AMLSES_PATH_MAP`` from ``environ``, then each ``--map-path`` spec (which win)."""
        from_env = cls.parse_list(environ.get(PATH_MAP_ENV, ""))
        return cls.combined([from_env, *(cls.parse(spec) for spec in specs)])

    def apply(self, path: str) -> str:
        """``path`` on this machine: a mapped Windows path becomes the local folder plus the
        rest (``C:\\Temp\\x.log`` → ``/srv/c/Temp/x.log``); any other path is returned as is."""
        parts = _windows_parts(path)
        if parts is None:
            return path
        folded = tuple(part.casefold() for part in parts)
        best: tuple[tuple[str, ...], str, str] | None = None
        for entry in self.entries:
            key = entry[0]
            if folded[: len(key)] == key and (best is None or len(key) > len(best[0])):
                best = entry
        if best is None:
            if _NATIVE_WINDOWS:
                return path
            raise UnmappedPathError(path)
        return os.path.join(best[2], *parts[len(best[0]) :])

    def __bool__(self) -> bool:
        return bool(self.entries)


def resolve_task_path(written: str, task_file: str, path_map: PathMap | None = None) -> str:
    """A path written in a task, as a path to open here.

    With a ``path_map`` (the run's, :attr:`RunOptions.path_map`), a Windows drive or UNC path
    is mapped to a folder here, or refused with :class:`UnmappedPathError`; ``None`` (a caller
    that knows no map, such as the loader's lenient look at subtasks for their secrets) leaves
    it unmapped.  Otherwise, on other systems than Windows, backslashes are read as folder
    separators, so ``data\\list.csv`` beside the task works everywhere.  A relative path is
    taken from the folder of ``task_file``, the task the path is written in, which is what its
    author saw when writing it (a subtask's own folder, not the root task's).
    """
    text = written.strip()
    if path_map is not None:
        text = path_map.apply(text)
    text = os.path.expanduser(text)
    if os.sep == "/":
        text = text.replace("\\", "/")
    if os.path.isabs(text) or not task_file or task_file.startswith("<"):
        return text
    return os.path.join(os.path.dirname(task_file), text)
