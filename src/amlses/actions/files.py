"""File System steps: ``<AMFILESYSTEM>`` copy, move, rename, delete and folders.

Real tasks around SES keep their address lists, templates and reports in files, so amlses runs
Automate's File System action on the local disk. The markup comes from the vendor's pages (the
README's "Files and environment variables" says, attribute by attribute, what was seen and what
is inferred): File System - Copy (Automate 11, ``File_System_-_Copy.htm``) gives SOURCE, DEST,
OVERWRITE, SUBFOLDERS, KEEPFOLDERSTRUCT, EXCLUDE, RE, ISNEWER, ONLYIFEXIST, RESULTDATASET and
``MODE="folder"``; move, rename, delete, create_folder and remove_folder have no stored page, so
their markup follows Copy's conventions. Reading and writing text are in :mod:`.file_text`; the
If blocks and ``list_files`` (an amlses extension) in :mod:`.file_conditions`. Both use the
helpers here.

Decisions, the same for every activity:

* Paths go through ``context.resolve_path`` (relative to the running task, ``\\`` accepted).
* A SOURCE may hold several entries separated by ``|`` and ``*``/``?`` masks in the last part,
  matched without regard to case, as on Windows (``*.*`` means every file, as in ``dir``); a
  name that does not exist as written is looked up in any case too (:func:`existing`).
* Nothing is half-done: every target is worked out and checked before the first file is
  touched, so a refused overwrite leaves the disk as it was; a file is written to a temporary
  file in its folder and moved into place in one ``os.replace`` (or hard-linked, so that a
  file appearing meanwhile is still not overwritten).  Appending appends.
* An existing target is an error unless OVERWRITE says otherwise (the safe reading where the
  pages are cut off before the default).
* Errors are one paragraph: the path and the operating system's reason.
"""

from __future__ import annotations

import datetime
import errno
import fnmatch
import functools
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StepError
from ..lang.nodes import Step
from ..runtime.datasets import Dataset
from ..values import date_from_text
from .registry import activity, element
from .spec import BOOL, CHOICE, DATASET, NAME, Args, Attr, Handler

if TYPE_CHECKING:
    from ..runtime.context import Context

element("AMFILESYSTEM")

_WILDCARDS = re.compile(r"[*?]")


# -- matching what a step names ----------------------------------------------------------------


def os_error(action: str, path: str, exc: OSError) -> StepError:
    """The one-paragraph error for a failed file operation: what, which path, and why."""
    reason = exc.strerror or str(exc)
    return StepError(f'cannot {action} "{path}": {reason}')


def guarded(action: str) -> Callable[[Handler], Handler]:
    """Turn any ``OSError`` a handler meets (a file vanishing between two looks, a disk
    failing) into the one-paragraph StepError, naming the file the system named."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def guarded_handler(context: Context, step: Step, args: Args) -> Any:
            try:
                return handler(context, step, args)
            except OSError as exc:
                raise os_error(action, str(exc.filename or "?"), exc) from None

        return guarded_handler

    return wrap


def has_wildcards(text: str) -> bool:
    return bool(_WILDCARDS.search(text))


def mask_matches(name: str, mask: str) -> bool:
    """Whether file ``name`` matches ``mask`` the way Windows matches: any case, ``*.*`` all."""
    mask = mask.lower()
    if mask == "*.*":
        mask = "*"
    return fnmatch.fnmatchcase(name.lower(), mask)


class Exclusion:
    """EXCLUDE: masks separated by ``|``, or with ``RE="YES"`` a regular expression, tested
    against file names (inferred: the Copy page names both attributes, its text is cut off)."""

    def __init__(self, written: str, regex: bool) -> None:
        self.masks = [m.strip() for m in written.split("|") if m.strip()] if not regex else []
        self.pattern: re.Pattern[str] | None = None
        if regex and written:
            try:
                self.pattern = re.compile(written, re.IGNORECASE)
            except re.error as exc:
                raise StepError(
                    f'EXCLUDE="{written}" is not a valid regular expression: {exc}'
                ) from None

    def excludes(self, name: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(name) is not None
        return any(mask_matches(name, mask) for mask in self.masks)


@dataclass(frozen=True)
class Found:
    """One file or folder a step names: its path and the folder its mask was matched in."""

    path: str
    root: str

    @property
    def relative(self) -> str:
        return os.path.relpath(self.path, self.root)


def existing(path: str) -> str:
    """``path``, or the one entry of its folder whose name differs from it only in case.

    Windows finds ``List.CSV`` when the task says ``list.csv``; tasks written there rely on
    it, so a name that does not exist as written is looked up without regard to case (an
    exact name always wins; two candidates that differ only in case match neither).
    """
    if os.path.lexists(path):
        return path
    folder, name = os.path.split(path)
    try:
        with os.scandir(folder or os.curdir) as listing:
            matches = [e.name for e in listing if e.name.lower() == name.lower()]
    except OSError:
        return path
    return os.path.join(folder, matches[0]) if len(matches) == 1 else path


def _is_kind(path: str, folders: bool) -> bool:
    return os.path.isdir(path) if folders else os.path.isfile(path)


def _entries(folder: str, subfolders: bool) -> Iterator[str]:
    """Paths in ``folder`` (and below it, with ``subfolders``), sorted, folder errors raised."""
    try:
        with os.scandir(folder) as listing:
            names = sorted(entry.name for entry in listing)
    except OSError as exc:
        raise os_error("read the folder", folder, exc) from None
    for name in names:
        path = os.path.join(folder, name)
        yield path
        if subfolders and os.path.isdir(path) and not os.path.islink(path):
            yield from _entries(path, subfolders)


def expand(
    context: Context,
    written: str,
    *,
    folders: bool = False,
    subfolders: bool = False,
    exclusion: Exclusion | None = None,
    action: str = "find",
    missing_ok: bool = False,
    contents: bool = False,
) -> list[Found]:
    """Every file (or folder) a SOURCE names: ``|``-separated entries, masks expanded.

    A literal path that does not exist is an error naming it and the OS reason (``action`` says
    what was being done), unless ``missing_ok``; so is a mask that matches nothing.  With
    ``subfolders`` the last part is matched in every folder below too.  With ``contents`` (a
    listing) a folder named stands for what is in it, and a mask may match nothing.
    """
    found: list[Found] = []
    seen: set[str] = set()
    for entry in (part.strip() for part in written.split("|")):
        if not entry:
            continue
        path = os.path.normpath(context.resolve_path(entry))
        folder, mask = os.path.split(path)
        if has_wildcards(folder):
            raise StepError(f'"{entry}": wildcards are allowed only in the last part of a path')
        if not has_wildcards(mask):
            path = existing(path)
            if contents and os.path.isdir(path):
                folder, mask = path, "*"
        if not has_wildcards(mask) and not subfolders:
            if not _is_kind(path, folders):
                if missing_ok:
                    continue
                raise _missing(action, path, folders)
            candidates = [path]
        else:
            if missing_ok and not os.path.isdir(folder or os.curdir):
                continue
            candidates = [
                p
                for p in _entries(folder or os.curdir, subfolders)
                if mask_matches(os.path.basename(p), mask) and _is_kind(p, folders)
            ]
            if not candidates and not (missing_ok or contents):
                kind = "folder" if folders else "file"
                where = " (subfolders included)" if subfolders else ""
                raise StepError(f'no {kind} matches "{path}"{where}')
        for candidate in candidates:
            name = os.path.basename(candidate)
            if exclusion is not None and exclusion.excludes(name):
                continue
            if candidate not in seen:
                seen.add(candidate)
                found.append(Found(candidate, folder or os.curdir))
    return found


def _missing(action: str, path: str, folders: bool) -> StepError:
    """Why ``path`` cannot be used: the OS reason, or that it is of the other kind."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return os_error(action, path, exc)
    if stat.S_ISDIR(info.st_mode):
        return StepError(f'cannot {action} "{path}": it is a folder, not a file')
    if folders:
        return StepError(f'cannot {action} "{path}": it is not a folder')
    return StepError(f'cannot {action} "{path}": it is not a regular file')


#: the date filters of Copy (seen in its declaration) and of the If blocks
DATE_ATTRS = (
    Attr("ISNEWERTHAN", doc="only items changed after this date (e.g. %DateSerial(2026,1,1)%)"),
    Attr("ISOLDERTHAN", doc="only items changed before this date"),
)


def _date(args: Args, name: str) -> datetime.datetime | None:
    """A date attribute (``%DateSerial(…)%`` arrives as its text), or None when absent."""
    written = args.text(name).strip()
    if not written:
        return None
    when = date_from_text(written)
    if when is None:
        raise StepError(f'{name}="{written}" is not a date: write e.g. %DateSerial(2026,1,31)%')
    return when


def dated(found: list[Found], args: Args) -> list[Found]:
    """The items changed after ISNEWERTHAN and before ISOLDERTHAN (when given)."""
    newer, older = _date(args, "ISNEWERTHAN"), _date(args, "ISOLDERTHAN")
    if newer is None and older is None:
        return found
    kept = []
    for item in found:
        try:
            changed = datetime.datetime.fromtimestamp(os.stat(item.path).st_mtime)
        except FileNotFoundError:
            continue  # gone since it was found
        if (newer is None or changed > newer) and (older is None or changed < older):
            kept.append(item)
    return kept


def count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# -- publishing a file without ever leaving half of it --------------------------------------


def _temporary(folder: str) -> str:
    """A new empty temporary file in ``folder``, so the final rename stays on one disk.

    Created with mode 0666 less the umask, like any new file (``tempfile.mkstemp`` would
    leave a new target readable by its owner only).
    """
    for _ in range(100):
        temp = os.path.join(folder or os.curdir, f".amlses-{secrets.token_hex(6)}.tmp")
        try:
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(descriptor)
        return temp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", folder)


def _same(first: str, second: str) -> bool:
    """Whether two existing paths are one file (a broken link is nobody's twin)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return os.path.abspath(first) == os.path.abspath(second)


def _publish(temp: str, target: str, replace: bool) -> None:
    """Move the finished ``temp`` to ``target`` in one step.

    Without ``replace`` the file is hard-linked into place, which fails if ``target`` appeared
    meanwhile instead of overwriting it; where links are not supported (some network and FAT
    file systems) the check is made just before the rename.
    """
    if replace:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)
    except FileExistsError:
        raise StepError(f'"{target}" exists: add OVERWRITE="YES" to replace it') from None
    except OSError:
        if os.path.lexists(target):
            raise StepError(f'"{target}" exists: add OVERWRITE="YES" to replace it') from None
        os.replace(temp, target)
        return
    os.unlink(temp)


def write_whole(path: str, data: bytes, replace: bool, keep_mode_of: str | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path``, then publish it (``replace``: over
    an existing file, whose mode ``keep_mode_of`` names)."""
    temp = _temporary(os.path.dirname(path))
    try:
        with open(temp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if keep_mode_of is not None:
            shutil.copymode(keep_mode_of, temp)
        _publish(temp, path, replace)
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


def _copy_file(source: str, target: str, replace: bool) -> None:
    """Copy ``source`` (content, times and mode) to ``target`` through a temporary file."""
    folder = os.path.dirname(target)
    if folder:
        os.makedirs(folder, exist_ok=True)
    temp = _temporary(folder)
    try:
        shutil.copyfile(source, temp)
        shutil.copystat(source, temp)
        _publish(temp, target, replace)
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


def _copy_folder(source: str, target: str, replace: bool) -> None:
    """Copy a folder tree: into a temporary folder renamed into place when the target is new;
    over an existing target (OVERWRITE) file by file, each file replaced whole."""
    if os.path.lexists(target):
        if not replace:
            raise StepError(f'"{target}" exists: add OVERWRITE="YES" to replace it')
        for path in _entries(source, True):
            relative = os.path.relpath(path, source)
            if os.path.isdir(path):
                os.makedirs(os.path.join(target, relative), exist_ok=True)
            else:
                _copy_file(path, os.path.join(target, relative), True)
        return
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=".amlses-", suffix=".tmp", dir=parent or None)
    try:
        shutil.copytree(source, temp, dirs_exist_ok=True)
        os.rename(temp, target)
    finally:
        if os.path.lexists(temp):
            shutil.rmtree(temp, ignore_errors=True)


def _move(source: str, target: str, replace: bool) -> None:
    """Move a file or folder: a rename on the same disk, else a copy then a delete."""
    is_folder = os.path.isdir(source)
    parent = os.path.dirname(target)
    if parent:
        os.makedirs(parent, exist_ok=True)
    try:
        if is_folder:
            if os.path.lexists(target):
                _copy_folder(source, target, replace)
                shutil.rmtree(source)
            else:
                os.rename(source, target)
        elif replace:
            os.replace(source, target)
        else:
            _publish(source, target, False)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if is_folder:
            _copy_folder(source, target, replace)
            shutil.rmtree(source)
        else:
            _copy_file(source, target, replace)
            os.unlink(source)


# -- copy and move -------------------------------------------------------------------------------

MODE_ATTR = Attr(
    "MODE", CHOICE, default="file", choices=("file", "folder"), doc="act on files or folders"
)
_TRANSFER_ATTRS = (
    MODE_ATTR,
    Attr("SOURCE", required=True, doc="file(s): a path, masks (*, ?), several joined by |"),
    Attr("DEST", required=True, doc="the folder (or, for one file, the file) to copy to"),
    Attr("OVERWRITE", BOOL, default=False, doc="YES: replace existing files"),
    Attr("SUBFOLDERS", BOOL, default=False, doc="YES: match the mask in subfolders too"),
    Attr("KEEPFOLDERSTRUCT", BOOL, default=False, doc="YES (with SUBFOLDERS): keep subfolders"),
    Attr("EXCLUDE", default="", doc="masks (|-separated) of file names to leave out"),
    Attr("RE", BOOL, default=False, doc="YES: EXCLUDE is a regular expression"),
    Attr("ISNEWER", BOOL, default=False, doc="YES: only when newer than an existing target"),
    Attr("ONLYIFEXIST", BOOL, default=False, doc="YES: only files whose target exists"),
    *DATE_ATTRS,
    Attr("ARCHIVETURNOFF", BOOL, default=False, doc="accepted; there is no archive attribute"),
    Attr("RESULTDATASET", NAME, output=DATASET, doc="receives one row per file done"),
)


@dataclass(frozen=True)
class _Transfer:
    source: str
    target: str
    replace: bool


def _plan(context: Context, step: Step, args: Args, action: str) -> list[_Transfer]:
    """Every (source, target) of a copy or move, checked before anything is changed."""
    folders = args.text("MODE") == "folder"
    subfolders = args.flag("SUBFOLDERS")
    written = args.text("SOURCE")
    found = expand(
        context,
        written,
        folders=folders,
        subfolders=subfolders,
        exclusion=Exclusion(args.text("EXCLUDE"), args.flag("RE")),
        action=action,
    )
    found = dated(found, args)
    if args.flag("ARCHIVETURNOFF"):
        context.warn_once(
            "archive-attribute",
            f'{step.position}: ARCHIVETURNOFF="YES" has no effect: files here have no '
            "archive attribute",
        )
    dest_written = args.text("DEST").strip()
    dest = context.resolve_path(dest_written)
    into_folder = (
        dest_written.endswith(("/", "\\"))
        or os.path.isdir(dest)
        or len(found) != 1
        or has_wildcards(written)
        or "|" in written
        or subfolders
    )
    keep = args.flag("KEEPFOLDERSTRUCT") and subfolders
    plan: list[_Transfer] = []
    targets: dict[str, str] = {}
    for item in found:
        name = item.relative if keep else os.path.basename(item.path)
        target = existing(os.path.normpath(os.path.join(dest, name) if into_folder else dest))
        if target in targets:
            raise StepError(
                f'"{targets[target]}" and "{item.path}" would both become "{target}"; '
                'add KEEPFOLDERSTRUCT="YES" to keep their folders apart'
            )
        targets[target] = item.path
        transfer = _check_target(item.path, target, args, folders)
        if transfer is not None:
            plan.append(transfer)
    return plan


def _check_target(source: str, target: str, args: Args, folders: bool) -> _Transfer | None:
    """The transfer to make for one file, None to skip it, or a StepError why it cannot be."""
    exists = os.path.lexists(target)
    if args.flag("ONLYIFEXIST") and not exists:
        return None
    if not exists:
        return _Transfer(source, target, False)
    if _same(source, target):
        raise StepError(f'"{source}" cannot be copied or moved onto itself')
    if os.path.isdir(target) != folders:
        kind = "a folder" if os.path.isdir(target) else "a file"
        raise StepError(f'cannot replace "{target}": it is {kind}')
    if args.flag("ISNEWER"):
        if os.stat(source).st_mtime <= os.stat(target).st_mtime:
            return None
        return _Transfer(source, target, True)
    if not args.flag("OVERWRITE"):
        raise StepError(
            f'"{target}" exists: add OVERWRITE="YES" to replace it (nothing was copied or moved)'
        )
    return _Transfer(source, target, True)


def _transfer_dataset(context: Context, step: Step, args: Args, done: list[_Transfer]) -> None:
    name = args.text("RESULTDATASET")
    if name:
        rows = [(os.path.basename(t.target), t.source, t.target) for t in done]
        context.store_dataset(step, Dataset(name, ("Name", "Source", "Destination"), rows))


@activity("AMFILESYSTEM", "", *_TRANSFER_ATTRS, aliases=("copy",))
@guarded("copy")
def file_copy(context: Context, step: Step, args: Args) -> str:
    """File System - Copy: copy files (or with ``MODE="folder"`` folders) to DEST.

    DEST is a folder when it ends with a separator, is an existing folder, or when SOURCE
    names several files (masks, ``|``, SUBFOLDERS); folders that do not exist are created.
    Otherwise DEST is the new file's own name.  ISNEWER replaces only older targets;
    ONLYIFEXIST copies only files whose target exists.  Each file is written whole through a
    temporary file, and every target is checked first: a refused overwrite copies nothing.
    """
    plan = _plan(context, step, args, "copy")
    done: list[_Transfer] = []
    for item in plan:
        try:
            if os.path.isdir(item.source):
                _copy_folder(item.source, item.target, item.replace)
            else:
                _copy_file(item.source, item.target, item.replace)
        except OSError as exc:
            raise os_error("copy to", item.target, exc) from None
        done.append(item)
    _transfer_dataset(context, step, args, done)
    return f"copied {count(len(done), 'folder' if args.text('MODE') == 'folder' else 'file')}"


@activity("AMFILESYSTEM", "move", *_TRANSFER_ATTRS)
@guarded("move")
def file_move(context: Context, step: Step, args: Args) -> str:
    """File System - Move: like Copy, then the source is gone.

    On one disk a move is a rename (a file never exists twice or half); across disks the file
    is copied whole through a temporary file and the source deleted after.
    """
    plan = _plan(context, step, args, "move")
    done: list[_Transfer] = []
    for item in plan:
        try:
            _move(item.source, item.target, item.replace)
        except OSError as exc:
            raise os_error("move to", item.target, exc) from None
        done.append(item)
    _transfer_dataset(context, step, args, done)
    return f"moved {count(len(done), 'folder' if args.text('MODE') == 'folder' else 'file')}"


@activity(
    "AMFILESYSTEM",
    "rename",
    Attr("SOURCE", required=True, doc="the file or folder to rename (no masks)"),
    Attr("DEST", required=True, doc="the new name; a path moves it as well"),
    Attr("OVERWRITE", BOOL, default=False, doc="YES: replace an existing file of that name"),
)
@guarded("rename")
def file_rename(context: Context, step: Step, args: Args) -> str:
    """File System - Rename: give one file or folder a new name.

    A DEST without a folder keeps the item in its folder (``DEST="old.txt"``); one with a
    folder moves it there too.  Masks are refused: renaming many files needs a loop.
    """
    written = args.text("SOURCE")
    if has_wildcards(written) or "|" in written:
        raise StepError(f'SOURCE="{written}": rename takes one file or folder, without masks')
    source = existing(os.path.normpath(context.resolve_path(written)))
    if not os.path.lexists(source):
        raise _missing("rename", source, False)
    new = args.text("DEST").strip()
    if "/" in new or "\\" in new:
        target = os.path.normpath(context.resolve_path(new))
    else:
        target = os.path.join(os.path.dirname(source), new)
    if not _same(existing(target), source):  # a change of case only is a rename too
        target = existing(target)
    if os.path.lexists(target) and not _same(source, target):
        if not args.flag("OVERWRITE"):
            raise StepError(f'"{target}" exists: add OVERWRITE="YES" to replace it')
        if os.path.isdir(target) != os.path.isdir(source):
            kind = "a folder" if os.path.isdir(target) else "a file"
            raise StepError(f'cannot replace "{target}": it is {kind}')
    try:
        _move(source, target, args.flag("OVERWRITE"))
    except OSError as exc:
        raise os_error("rename", source, exc) from None
    return f"renamed to {os.path.basename(target)}"


# -- delete and folders --------------------------------------------------------------------------


@activity(
    "AMFILESYSTEM",
    "delete",
    MODE_ATTR,
    Attr("SOURCE", required=True, doc="file(s): a path, masks (*, ?), several joined by |"),
    Attr("SUBFOLDERS", BOOL, default=False, doc="YES: match the mask in subfolders too"),
    Attr("EXCLUDE", default="", doc="masks (|-separated) of file names to keep"),
    Attr("RE", BOOL, default=False, doc="YES: EXCLUDE is a regular expression"),
    *DATE_ATTRS,
)
@guarded("delete")
def file_delete(context: Context, step: Step, args: Args) -> str:
    """File System - Delete: delete files (``MODE="folder"``: folders and what they hold).

    A path or mask that matches nothing is an error, so a misspelt name is not a silent
    success; every match is found before the first is deleted.
    """
    folders = args.text("MODE") == "folder"
    found = expand(
        context,
        args.text("SOURCE"),
        folders=folders,
        subfolders=args.flag("SUBFOLDERS"),
        exclusion=Exclusion(args.text("EXCLUDE"), args.flag("RE")),
        action="delete",
    )
    found = dated(found, args)
    for item in found:
        try:
            if folders:
                _refuse_root(item.path)
                shutil.rmtree(item.path)
            else:
                os.unlink(item.path)
        except FileNotFoundError:
            continue  # already gone: inside a folder deleted just before, or by another task
        except OSError as exc:
            raise os_error("delete", item.path, exc) from None
    return f"deleted {count(len(found), 'folder' if folders else 'file')}"


_FOLDER = Attr("FOLDER", required=True, doc="the folder")


@activity("AMFILESYSTEM", "create_folder", _FOLDER)
@guarded("create the folder")
def folder_create(context: Context, step: Step, args: Args) -> str:
    """File System - Create folder: create the folder and any missing parents.

    A folder that already exists is success (the step's goal holds); a file of that name is
    an error.
    """
    path = os.path.normpath(context.resolve_path(args.text("FOLDER")))
    if os.path.isdir(path):
        return f"folder {os.path.basename(path)} exists"
    try:
        os.makedirs(path)
    except FileExistsError:
        raise StepError(f'cannot create the folder "{path}": a file of that name exists') from None
    except OSError as exc:
        raise os_error("create the folder", path, exc) from None
    return f"created folder {os.path.basename(path)}"


@activity("AMFILESYSTEM", "remove_folder", _FOLDER)
@guarded("remove the folder")
def folder_remove(context: Context, step: Step, args: Args) -> str:
    """File System - Remove folder: delete a folder with everything in it.

    A folder that does not exist is an error (with the OS reason); a file system root is
    refused whatever the task says.
    """
    path = existing(os.path.normpath(context.resolve_path(args.text("FOLDER"))))
    if not os.path.isdir(path):
        raise _missing("remove the folder", path, True)
    _refuse_root(path)
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise os_error("remove the folder", exc.filename or path, exc) from None
    return f"removed folder {os.path.basename(path)}"


def _refuse_root(path: str) -> None:
    absolute = os.path.abspath(path)
    if os.path.dirname(absolute) == absolute:
        raise StepError(f'"{path}" is the root of a file system: amlses will not remove it')
