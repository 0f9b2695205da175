"""File System text steps: ``<AMFILESYSTEM ACTIVITY="write_file">`` and ``"read_file"``.

Read from File is documented for AWE 10 (``action_read_from_file.htm``: FILE, RESULTVARIABLE,
ENCODING, MAXBYTES, POSITION, NEWPOSITIONVARIABLE, BYTESVARIABLE, REPLACENULL, REPLACE).  Write
file's page is not stored; a public task writes ``<AMFILESYSTEM ACTIVITY="write_file"
FILE="C:\\Temp\\PID%ProcessPID%.log">text</AMFILESYSTEM>``, so FILE and the text body are
seen, and TEXT, APPEND, OVERWRITE and ENCODING are inferred (OVERWRITE as on Copy, ENCODING with
Read from File's options).  The other File System activities are in :mod:`.files`, whose
rules these follow: paths through ``context.resolve_path``, nothing half-written, an existing
file kept unless the step says otherwise, errors naming the path and the OS reason.
"""

from __future__ import annotations

import codecs
import os
from typing import TYPE_CHECKING

from ..errors import StepError
from ..expr import substitute
from ..files import read_bounded
from ..lang.nodes import Step
from ..values import to_text
from .files import count, existing, guarded, os_error, write_whole
from .registry import activity
from .spec import BOOL, CHOICE, NAME, NUMBER, VARIABLE, Args, Attr

if TYPE_CHECKING:
    from ..runtime.context import Context

#: the largest file ``read_file`` puts into a variable
READ_LIMIT = 16 * 1024 * 1024

#: ENCODING option values (AWE 10 read_from_file.htm lists UTF-8, Unicode, Unicode Big Endian
#: and ANSI before the page is cut off) -> (Python codec, byte-order mark written first)
ENCODINGS: dict[str, tuple[str, bytes]] = {
    "utf-8": ("utf-8", b""),
    "utf8": ("utf-8", b""),
    "unicode": ("utf-16-le", codecs.BOM_UTF16_LE),
    "utf-16": ("utf-16-le", codecs.BOM_UTF16_LE),
    "utf-16le": ("utf-16-le", codecs.BOM_UTF16_LE),
    "unicode big endian": ("utf-16-be", codecs.BOM_UTF16_BE),
    "unicode_big_endian": ("utf-16-be", codecs.BOM_UTF16_BE),
    "utf-16be": ("utf-16-be", codecs.BOM_UTF16_BE),
    "ansi": ("cp1252", b""),
    "ascii": ("ascii", b""),
}


_ENCODING = Attr(
    "ENCODING",
    CHOICE,
    choices=tuple(ENCODINGS),
    doc="UTF-8, Unicode (UTF-16), Unicode Big Endian, ANSI (Windows-1252) or ASCII",
)


@activity(
    "AMFILESYSTEM",
    "write_file",
    Attr("FILE", required=True, doc="the file to write"),
    Attr("TEXT", doc="the text; the vendor's sample writes it as the element's text"),
    Attr("APPEND", BOOL, default=False, doc="YES: add to the end of an existing file"),
    Attr("OVERWRITE", BOOL, default=False, doc="YES: replace an existing file"),
    _ENCODING,
)
@guarded("write")
def file_write(context: Context, step: Step, args: Args) -> str:
    """File System - Write file: write text to FILE (the element's text, or TEXT).

    A new file is written whole through a temporary file; an existing one is an error unless
    ``APPEND="YES"`` (the text is added at the end) or ``OVERWRITE="YES"`` (replaced in one
    rename, keeping its permissions).  The text is written as it is, without a line break
    added.  ENCODING defaults to UTF-8 without a byte-order mark; Unicode (UTF-16) gets its
    byte-order mark at the start of a new file, as Notepad writes it.
    """
    path = existing(os.path.normpath(context.resolve_path(args.text("FILE"))))
    text = args.text("TEXT") if "TEXT" in args.given else _body(context, step)
    encoding = args.text("ENCODING") or "utf-8"
    codec, bom = ENCODINGS[encoding]
    try:
        data = text.encode(codec)
    except UnicodeEncodeError as exc:
        character = exc.object[exc.start]
        raise StepError(
            f'the text cannot be written as ENCODING="{encoding}": "{character}" '
            f'(U+{ord(character):04X}) has no {encoding} form; use ENCODING="UTF-8"'
        ) from None
    exists = os.path.lexists(path)
    if exists and os.path.isdir(path):
        raise StepError(f'cannot write "{path}": it is a folder')
    try:
        if exists and args.flag("APPEND"):
            with open(path, "ab") as file:
                if bom and file.tell() == 0:
                    data = bom + data
                file.write(data)
            return f"appended {count(len(data), 'byte')} to {os.path.basename(path)}"
        if exists and not args.flag("OVERWRITE"):
            raise StepError(
                f'"{path}" exists: add OVERWRITE="YES" to replace it or APPEND="YES" to add to it'
            )
        write_whole(path, bom + data, exists, keep_mode_of=path if exists else None)
    except OSError as exc:
        raise os_error("write", path, exc) from None
    return f"wrote {count(len(bom + data), 'byte')} to {os.path.basename(path)}"


def _body(context: Context, step: Step) -> str:
    """The element's text body, its ``%…%`` evaluated, or "" when there is none."""
    if not step.text:
        return ""
    return to_text(substitute(step.text, context, step.position))


@activity(
    "AMFILESYSTEM",
    "read_file",
    Attr("FILE", required=True, aliases=("SOURCE",), doc="the file to read"),
    Attr("RESULTVARIABLE", NAME, required=True, output=VARIABLE, doc="receives the text"),
    _ENCODING,
    Attr("MAXBYTES", NUMBER, minimum=0, doc="read at most this many bytes (absent or 0: all)"),
    Attr("POSITION", NUMBER, default=0, minimum=0, doc="bytes to skip before reading"),
    Attr("NEWPOSITIONVARIABLE", NAME, output=VARIABLE, doc="receives the position after"),
    Attr("BYTESVARIABLE", NAME, output=VARIABLE, doc="receives the number of bytes read"),
    Attr("REPLACENULL", BOOL, default=False, doc="YES: replace NUL characters with REPLACE"),
    Attr("REPLACE", default="", doc="what replaces NUL characters (default: nothing)"),
)
@guarded("read")
def file_read(context: Context, step: Step, args: Args) -> str:
    """File System - Read from file: put a text file's contents into RESULTVARIABLE.

    The AWE 10 page's declaration says FILE while its table writes SOURCE; both are accepted.
    Without ENCODING the text is decoded the way Windows tools save it (a byte-order mark
    decides, else UTF-8, else Windows-1252); the page's stated default (ANSI, or Unicode in
    its text) contradicts itself, and detection reads both correctly.  POSITION and MAXBYTES
    read a part (bytes), NEWPOSITIONVARIABLE receives where to go on, so a loop can read a
    large file in pieces.  Files over 16 MiB are refused.  Variables are created if absent.
    """
    path = existing(os.path.normpath(context.resolve_path(args.text("FILE"))))
    try:
        data = read_bounded(path, READ_LIMIT)
    except OSError as exc:
        raise os_error("read", path, exc) from None
    start = args.number("POSITION", 0)
    limit = args.number("MAXBYTES", 0)
    part = data[start : start + limit] if limit else data[start:]
    text = _decode(part, args.text("ENCODING"), path, whole=len(part) == len(data))
    if args.flag("REPLACENULL"):
        text = text.replace("\0", args.text("REPLACE"))
    context.set_variable(args.text("RESULTVARIABLE"), text, create=True)
    if args.text("NEWPOSITIONVARIABLE"):
        context.set_variable(args.text("NEWPOSITIONVARIABLE"), start + len(part), create=True)
    if args.text("BYTESVARIABLE"):
        context.set_variable(args.text("BYTESVARIABLE"), len(part), create=True)
    return f"read {count(len(part), 'byte')} -> {args.text('RESULTVARIABLE')}"


def _decode(data: bytes, encoding: str, path: str, *, whole: bool) -> str:
    """Bytes as text: detected like :func:`amlses.files.decode_text`, or by ENCODING.

    A part of a file may cut a character in two, so parts decode with replacement characters;
    a whole file that is not valid in the encoding asked for is an error naming the offset.
    """
    if not encoding:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16", errors="strict" if whole else "replace")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")
    codec, bom = ENCODINGS[encoding]
    if codec == "utf-8":
        codec, bom = "utf-8-sig", b""
    if bom and data.startswith(bom):
        data = data[len(bom) :]
    try:
        return data.decode(codec, errors="strict" if whole and codec != "cp1252" else "replace")
    except UnicodeDecodeError as exc:
        raise StepError(
            f'cannot read "{path}" as ENCODING="{encoding}": byte {exc.start} is not valid '
            "there; leave ENCODING out to detect the encoding"
        ) from None
