"""If blocks on the file system (``<AMIF ACTIVITY="file_exist">``, ``"folder_exist"``) and
the file datasets they share with ``<AMFILESYSTEM ACTIVITY="list_files">``.

If - File exists is documented for Automate 11 (``If_-_File_exists.htm``): its declaration
writes ``MODE``, its parameter table ``ACTION`` (both accepted, MODE first), with the tests
exist, not_exist, accessible and not_accessible, wildcards, RESULTDATASET, SUBFOLDERS, EXCLUDE,
RE, ISNEWERTHAN and ISOLDERTHAN.  If - Folder exists appears by name in Automate's If
overview; its markup is seen only in the AWE 6.1 form ``<AMIFFOLDEREXISTS ACTION=… FOLDER=…
EXCLUDE=… ISNEWERTHAN=… ISOLDERTHAN=…>`` (whose example writes SOURCE), so the Automate 11
form is inferred: ``<AMIF ACTIVITY="folder_exist" FOLDER=… MODE="exist|not_exist">``.

Both branch like every If (:mod:`.core`): the body when true, else the AMELSE branch.
"""

from __future__ import annotations

import datetime
import os
import stat
from typing import TYPE_CHECKING

from ..lang.nodes import Step
from ..runtime.datasets import Dataset
from ..values import Value
from .core import branch
from .files import DATE_ATTRS, MODE_ATTR, Exclusion, count, dated, expand, guarded, os_error
from .registry import activity
from .spec import BOOL, CHOICE, DATASET, NAME, Args, Attr

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..runtime.context import Context

#: the columns of a file dataset: those of AutoMate 8's If File Exists dataset
#: (action_if_file_exists.htm), plus FullName, the path (an amlses addition)
FILE_COLUMNS = (
    "Name",
    "FullName",
    "Size",
    "CreatedOn",
    "ModifiedOn",
    "AccessedOn",
    "IsFolder",
    "IsReadOnly",
    "IsArchive",
    "IsSystem",
    "Hidden",
    "IsCompressed",
    "IsAccessible",
)

_FILTER_ATTRS = (
    Attr("EXCLUDE", default="", doc="masks (|-separated) of names to leave out"),
    Attr("RE", BOOL, default=False, doc="YES: EXCLUDE is a regular expression"),
    *DATE_ATTRS,
)


@activity(
    "AMIF",
    "file_exist",
    Attr("FILE", required=True, doc="the file: a path or a mask (*, ?)"),
    Attr(
        "MODE",
        CHOICE,
        default="exist",
        choices=("exist", "not_exist", "accessible", "not_accessible"),
        aliases=("ACTION",),
        doc="the test",
    ),
    Attr("RESULTDATASET", NAME, output=DATASET, doc="receives one row per matching file"),
    Attr("SUBFOLDERS", BOOL, default=False, doc="YES: look in subfolders too"),
    *_FILTER_ATTRS,
    block=True,
)
@guarded("look for")
def if_file_exists(context: Context, step: Step, args: Args) -> str:
    """If - File exists: branch on whether a file (or any file matching a mask) exists.

    ``accessible`` is true when every matching file can be opened now, ``not_accessible``
    when one exists that cannot (Windows' "locked"; here: permissions).  RESULTDATASET holds
    the matching files, with AutoMate 8's If File Exists columns.
    """
    found = expand(
        context,
        args.text("FILE"),
        subfolders=args.flag("SUBFOLDERS"),
        exclusion=Exclusion(args.text("EXCLUDE"), args.flag("RE")),
        missing_ok=True,
    )
    found = dated(found, args)
    if args.text("RESULTDATASET"):
        dataset = file_dataset(args.text("RESULTDATASET"), (item.path for item in found))
        context.store_dataset(step, dataset)
    mode = args.text("MODE")
    if mode == "exist":
        result = bool(found)
    elif mode == "not_exist":
        result = not found
    else:
        readable = [accessible(item.path) for item in found]
        result = bool(found) and (all(readable) if mode == "accessible" else not all(readable))
    return branch(context, step, result)


@activity(
    "AMIF",
    "folder_exist",
    Attr("FOLDER", required=True, aliases=("SOURCE",), doc="the folder: a path or a mask"),
    Attr(
        "MODE",
        CHOICE,
        default="exist",
        choices=("exist", "not_exist"),
        aliases=("ACTION",),
        doc="the test",
    ),
    *_FILTER_ATTRS,
    block=True,
)
@guarded("look for")
def if_folder_exists(context: Context, step: Step, args: Args) -> str:
    """If - Folder exists: branch on whether a folder (or one matching a mask) exists."""
    found = expand(
        context,
        args.text("FOLDER"),
        folders=True,
        exclusion=Exclusion(args.text("EXCLUDE"), args.flag("RE")),
        missing_ok=True,
    )
    found = dated(found, args)
    result = bool(found) if args.text("MODE") == "exist" else not found
    return branch(context, step, result)


# -- file datasets and the listing ---------------------------------------------------------------


def file_dataset(name: str, paths: Iterable[str]) -> Dataset:
    """A dataset with one row per path, the columns of :data:`FILE_COLUMNS`.

    Linux keeps no creation time, so CreatedOn is the last status change; archive, system and
    compressed attributes do not exist here and read False; Hidden means a name starting with
    a dot.  IsAccessible says whether the file could be opened for reading now.
    """
    rows: list[tuple[Value, ...]] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError as exc:
            raise os_error("read the details of", path, exc) from None
        is_folder = stat.S_ISDIR(info.st_mode)
        rows.append(
            (
                os.path.basename(path),
                os.path.abspath(path),
                0 if is_folder else info.st_size,
                _when(info.st_ctime),
                _when(info.st_mtime),
                _when(info.st_atime),
                is_folder,
                not os.access(path, os.W_OK),
                False,
                False,
                os.path.basename(path).startswith("."),
                False,
                accessible(path),
            )
        )
    return Dataset(name, FILE_COLUMNS, rows)


def accessible(path: str) -> bool:
    """Whether ``path`` can be opened (read) now: Windows' "not locked"; permissions here."""
    if os.path.isdir(path):
        return os.access(path, os.R_OK | os.X_OK)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    os.close(descriptor)
    return True


def _when(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp).replace(microsecond=0)


@activity(
    "AMFILESYSTEM",
    "list_files",
    MODE_ATTR,
    Attr("SOURCE", required=True, doc="a folder, or masks (*, ?) joined by |"),
    Attr("RESULTDATASET", NAME, required=True, output=DATASET, doc="receives one row per file"),
    Attr("SUBFOLDERS", BOOL, default=False, doc="YES: include subfolders"),
    Attr("EXCLUDE", default="", doc="masks (|-separated) of file names to leave out"),
    Attr("RE", BOOL, default=False, doc="YES: EXCLUDE is a regular expression"),
    extension=True,
)
@guarded("list")
def file_list(context: Context, step: Step, args: Args) -> str:
    """List files (amlses extension): one dataset row per file (``MODE="folder"``: folder).

    Automate lists files with Loop - Files, whose markup is not in the stored pages; this
    gives the same information as a dataset, with the columns of AutoMate 8's If File Exists
    dataset plus FullName, for ``<AMLOOP ACTIVITY="dataset">`` to walk.  A SOURCE naming a
    folder lists what is in it; an empty folder gives an empty dataset.
    """
    found = expand(
        context,
        args.text("SOURCE"),
        folders=args.text("MODE") == "folder",
        subfolders=args.flag("SUBFOLDERS"),
        exclusion=Exclusion(args.text("EXCLUDE"), args.flag("RE")),
        action="list",
        contents=True,
    )
    dataset = file_dataset(args.text("RESULTDATASET"), (item.path for item in found))
    context.store_dataset(step, dataset)
    return f"{count(len(dataset), 'file')} -> {dataset.name}"
