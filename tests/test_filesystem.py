"""File System steps and the file If blocks as a user runs them: ``amlses run -q`` on a task
in ``tmp_path``, effects checked on the disk, what the task shows read from stdout and every
error paragraph read exactly (with ``tmp_path`` shortened away) from stderr.

No SES step is involved, so no endpoint is needed.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest
from click.testing import Result

from clitools import invoke, write_task


def run(tmp_path: Path, text: str, *args: str) -> Result:
    """Run ``text`` as ``tmp_path/task.aml`` with ``amlses run -q``."""
    return invoke("run", str(write_task(tmp_path, text)), "-q", *args)


def shown(result: Result) -> list[str]:
    return result.stdout.splitlines()


def errors(result: Result, tmp_path: Path) -> list[str]:
    """stderr lines with the temporary folder shortened away."""
    return result.stderr.replace(f"{tmp_path}/", "").splitlines()


def leftovers(folder: Path) -> list[str]:
    """Temporary files a step left behind (there must never be any)."""
    return sorted(p.name for p in folder.rglob(".amlses-*"))


class TestWriteFile:
    def test_text_body_is_evaluated_and_written_as_utf8(self, tmp_path: Path) -> None:
        result = run(
            tmp_path,
            '<AMVARIABLE NAME="who" VALUE="Zoë" />\n'
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="out.txt">'
            "Hello %who%, %1+1%</AMFILESYSTEM>\n",
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / "out.txt").read_bytes() == "Hello Zoë, 2".encode()
        assert leftovers(tmp_path) == []

    def test_text_attribute_and_backslash_path(self, tmp_path: Path) -> None:
        (tmp_path / "sub").mkdir()
        result = run(
            tmp_path, '<AMFILESYSTEM ACTIVITY="write_file" FILE="sub\\a.txt" TEXT="line&#10;" />\n'
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / "sub" / "a.txt").read_text() == "line\n"

    def test_new_file_gets_the_usual_permissions(self, tmp_path: Path) -> None:
        (tmp_path / "plain.txt").write_text("x")
        run(tmp_path, '<AMFILESYSTEM ACTIVITY="write_file" FILE="new.txt" TEXT="x" />\n')
        assert (tmp_path / "new.txt").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode

    def test_existing_file_is_refused_and_left_as_it_was(self, tmp_path: Path) -> None:
        (tmp_path / "out.txt").write_text("keep me")
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="write_file" FILE="out.txt" TEXT="new" />\n')
        assert result.exit_code == 1
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="write_file">: "out.txt" exists: '
            'add OVERWRITE="YES" to replace it or APPEND="YES" to add to it'
        )
        assert (tmp_path / "out.txt").read_text() == "keep me"

    def test_overwrite_replaces_whole_and_keeps_the_mode(self, tmp_path: Path) -> None:
        target = tmp_path / "out.txt"
        target.write_text("old text that is longer")
        target.chmod(0o640)
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="out.txt" TEXT="new" OVERWRITE="YES" />\n',
        )
        assert result.exit_code == 0, result.output
        assert target.read_text() == "new"
        assert target.stat().st_mode & 0o777 == 0o640
        assert leftovers(tmp_path) == []

    def test_append_adds_to_the_end_and_creates_a_missing_file(self, tmp_path: Path) -> None:
        text = (
            '<AMLOOP FROM="1" TO="3" RESULTVARIABLE="i">\n'
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="log.txt" APPEND="YES">%i%;</AMFILESYSTEM>\n'
            "</AMLOOP>\n"
        )
        result = run(tmp_path, text)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "log.txt").read_text() == "1;2;3;"

    def test_unicode_writes_a_byte_order_mark_once(self, tmp_path: Path) -> None:
        text = (
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="u.txt" TEXT="ab" ENCODING="Unicode" />\n'
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="u.txt" TEXT="c" ENCODING="Unicode"'
            ' APPEND="YES" />\n'
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="b.txt" TEXT="ab"'
            ' ENCODING="Unicode Big Endian" />\n'
        )
        result = run(tmp_path, text)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "u.txt").read_bytes() == codecs.BOM_UTF16_LE + "abc".encode("utf-16-le")
        assert (tmp_path / "b.txt").read_bytes() == codecs.BOM_UTF16_BE + "ab".encode("utf-16-be")

    def test_ansi_is_windows_1252_and_refuses_what_it_cannot_hold(self, tmp_path: Path) -> None:
        text = (
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="a.txt" TEXT="café €5" ENCODING="ANSI" />\n'
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="b.txt" TEXT="日本" ENCODING="ANSI" />\n'
        )
        result = run(tmp_path, text)
        assert (tmp_path / "a.txt").read_bytes() == "café €5".encode("cp1252")
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:2: <AMFILESYSTEM ACTIVITY="write_file">: the text cannot be written'
            ' as ENCODING="ansi": "日" (U+65E5) has no ansi form; use ENCODING="UTF-8"'
        )
        assert not (tmp_path / "b.txt").exists()

    def test_missing_folder_names_the_path_and_the_reason(self, tmp_path: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="write_file" FILE="no\\a.txt" TEXT="x" />\n')
        assert result.exit_code == 1
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="write_file">: cannot write "no/a.txt": '
            "No such file or directory"
        )


class TestReadFile:
    @pytest.mark.parametrize(
        "data",
        [
            "Zoë €".encode(),
            codecs.BOM_UTF8 + "Zoë €".encode(),
            codecs.BOM_UTF16_LE + "Zoë €".encode("utf-16-le"),
            "Zoë €".encode("cp1252"),
        ],
        ids=["utf8", "utf8-bom", "utf16", "ansi"],
    )
    def test_encoding_is_detected(self, tmp_path: Path, data: bytes) -> None:
        (tmp_path / "in.txt").write_bytes(data)
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="read_file" FILE="in.txt" RESULTVARIABLE="t" />\n'
            '<AMSHOWDIALOG MESSAGE="[%t%]" />\n',
        )
        assert shown(result) == ["[Zoë €]"]

    def test_encoding_given_and_source_alias(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_bytes("é".encode("utf-16-be"))
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="read_file" SOURCE="in.txt" RESULTVARIABLE="t"'
            ' ENCODING="utf-16be" />\n'
            '<AMSHOWDIALOG MESSAGE="[%t%]" />\n',
        )
        assert shown(result) == ["[é]"]

    def test_invalid_bytes_for_the_encoding_asked_are_an_error(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_bytes(b"ab\xff")
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="read_file" FILE="in.txt" RESULTVARIABLE="t"'
            ' ENCODING="UTF-8" />\n',
        )
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="read_file">: cannot read "in.txt" as '
            'ENCODING="utf-8": byte 2 is not valid there; leave ENCODING out to detect the encoding'
        )

    def test_parts_positions_and_nul_replacement(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_bytes(b"abc\0defgh")
        text = (
            '<AMFILESYSTEM ACTIVITY="read_file" FILE="in.txt" RESULTVARIABLE="t" MAXBYTES="5"'
            ' NEWPOSITIONVARIABLE="pos" BYTESVARIABLE="n" REPLACENULL="YES" REPLACE="_" />\n'
            '<AMSHOWDIALOG MESSAGE="%t% %pos% %n%" />\n'
            '<AMFILESYSTEM ACTIVITY="read_file" FILE="in.txt" RESULTVARIABLE="t" POSITION="%pos%"'
            ' NEWPOSITIONVARIABLE="pos" />\n'
            '<AMSHOWDIALOG MESSAGE="%t% %pos%" />\n'
        )
        result = run(tmp_path, text)
        assert shown(result) == ["abc_d 5 5", "efgh 9"]

    def test_missing_file_names_the_path_and_the_reason(self, tmp_path: Path) -> None:
        result = run(
            tmp_path, '<AMFILESYSTEM ACTIVITY="read_file" FILE="nope.txt" RESULTVARIABLE="t" />\n'
        )
        assert result.exit_code == 1
        assert errors(result, tmp_path)[:2] == [
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="read_file">: cannot read "nope.txt": '
            "No such file or directory",
            '    <AMFILESYSTEM ACTIVITY="read_file" FILE="nope.txt" RESULTVARIABLE="t" />',
        ]

    def test_a_folder_is_not_read(self, tmp_path: Path) -> None:
        (tmp_path / "dir").mkdir()
        result = run(
            tmp_path, '<AMFILESYSTEM ACTIVITY="read_file" FILE="dir" RESULTVARIABLE="t" />\n'
        )
        assert result.exit_code == 1
        assert "cannot read" in errors(result, tmp_path)[0]
        assert "Traceback" not in result.output


def files(folder: Path) -> list[str]:
    """Every file below ``folder``, as sorted relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """in/ with a.txt, B.TXT, c.csv, notes (no extension) and sub/d.txt."""
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    for name in ("a.txt", "B.TXT", "c.csv", "notes", "sub/d.txt"):
        (source / name).write_text(name)
    return source


class TestCopy:
    def test_one_file_to_a_new_name(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM SOURCE="in\\a.txt" DEST="copy.txt" />\n')
        assert result.exit_code == 0, result.output
        assert (tmp_path / "copy.txt").read_text() == "a.txt"
        assert (tree / "a.txt").exists()

    def test_masks_match_in_any_case_into_a_new_folder(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="copy" SOURCE="in\\*.txt" DEST="out" />\n')
        assert result.exit_code == 0, result.output
        assert files(tmp_path / "out") == ["B.TXT", "a.txt"]

    def test_star_dot_star_is_every_file(self, tmp_path: Path, tree: Path) -> None:
        run(tmp_path, '<AMFILESYSTEM SOURCE="in\\*.*" DEST="out\\" />\n')
        assert files(tmp_path / "out") == ["B.TXT", "a.txt", "c.csv", "notes"]

    def test_pipe_separated_sources_and_exclude(self, tmp_path: Path, tree: Path) -> None:
        run(
            tmp_path,
            '<AMFILESYSTEM SOURCE="in\\*.txt|in\\c.csv" DEST="out" EXCLUDE="b*|*.md" />\n',
        )
        assert files(tmp_path / "out") == ["a.txt", "c.csv"]

    def test_exclude_as_regular_expression(self, tmp_path: Path, tree: Path) -> None:
        run(tmp_path, '<AMFILESYSTEM SOURCE="in\\*" DEST="out" EXCLUDE="^[ab]\\." RE="YES" />\n')
        assert files(tmp_path / "out") == ["c.csv", "notes"]

    def test_subfolders_flat_or_with_their_structure(self, tmp_path: Path, tree: Path) -> None:
        run(
            tmp_path,
            '<AMFILESYSTEM SOURCE="in\\*.txt" DEST="flat" SUBFOLDERS="YES" />\n'
            '<AMFILESYSTEM SOURCE="in\\*.txt" DEST="kept" SUBFOLDERS="YES"'
            ' KEEPFOLDERSTRUCT="YES" />\n',
        )
        assert files(tmp_path / "flat") == ["B.TXT", "a.txt", "d.txt"]
        assert files(tmp_path / "kept") == ["B.TXT", "a.txt", "sub/d.txt"]

    def test_existing_target_refused_and_nothing_copied(self, tmp_path: Path, tree: Path) -> None:
        out = tmp_path / "out"
        out.mkdir()
        (out / "B.TXT").write_text("mine")
        result = run(tmp_path, '<AMFILESYSTEM SOURCE="in\\*.txt" DEST="out" />\n')
        assert result.exit_code == 1
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM>: "out/B.TXT" exists: add OVERWRITE="YES" to '
            "replace it (nothing was copied or moved)"
        )
        assert files(out) == ["B.TXT"]
        assert (out / "B.TXT").read_text() == "mine"

    def test_overwrite_allowed(self, tmp_path: Path, tree: Path) -> None:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "a.txt").write_text("old")
        result = run(tmp_path, '<AMFILESYSTEM SOURCE="in\\a.txt" DEST="out" OVERWRITE="YES" />\n')
        assert result.exit_code == 0, result.output
        assert (tmp_path / "out" / "a.txt").read_text() == "a.txt"
        assert leftovers(tmp_path) == []

    def test_only_if_exist_and_is_newer(self, tmp_path: Path, tree: Path) -> None:
        out = tmp_path / "out"
        out.mkdir()
        (out / "a.txt").write_text("newer target")
        (out / "B.TXT").write_text("older target")
        os.utime(out / "B.TXT", (1, 1))
        result = run(
            tmp_path,
            '<AMFILESYSTEM SOURCE="in\\*.txt" DEST="out" ONLYIFEXIST="YES" ISNEWER="YES"'
            ' RESULTDATASET="done" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="done">\n'
            '<AMSHOWDIALOG MESSAGE="%done.Name%" />\n'
            "</AMLOOP>\n",
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["B.TXT"]
        assert (out / "a.txt").read_text() == "newer target"
        assert (out / "B.TXT").read_text() == "B.TXT"
        assert files(out) == ["B.TXT", "a.txt"]

    def test_date_filters(self, tmp_path: Path, tree: Path) -> None:
        os.utime(tree / "a.txt", (86400, 86400))
        result = run(
            tmp_path,
            '<AMFILESYSTEM SOURCE="in\\*.txt" DEST="new" ISNEWERTHAN="%DateSerial(2000,1,1)%" />\n'
            '<AMFILESYSTEM SOURCE="in\\*.txt" DEST="old" ISOLDERTHAN="1/1/2000" />\n',
        )
        assert result.exit_code == 0, result.output
        assert files(tmp_path / "new") == ["B.TXT"]
        assert files(tmp_path / "old") == ["a.txt"]

    def test_folders(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM SOURCE="in" DEST="backup\\" MODE="folder" />\n')
        assert result.exit_code == 0, result.output
        assert files(tmp_path / "backup" / "in") == files(tree)

    def test_missing_source_names_the_path_and_the_reason(self, tmp_path: Path) -> None:
        result = run(
            tmp_path, '<AMVARIABLE NAME="x" />\n<AMFILESYSTEM SOURCE="gone.txt" DEST="b" />\n'
        )
        assert result.exit_code == 1
        assert errors(result, tmp_path)[:2] == [
            'amlses: task.aml:2: <AMFILESYSTEM>: cannot copy "gone.txt": No such file or directory',
            '    <AMFILESYSTEM SOURCE="gone.txt" DEST="b" />',
        ]

    def test_a_mask_matching_nothing_is_an_error(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM SOURCE="in\\*.pdf" DEST="out" />\n')
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM>: no file matches "in/*.pdf"'
        )

    def test_two_sources_onto_one_target_are_refused(self, tmp_path: Path, tree: Path) -> None:
        (tree / "sub" / "a.txt").write_text("other a")
        result = run(tmp_path, '<AMFILESYSTEM SOURCE="in\\a.txt" DEST="flat" SUBFOLDERS="YES" />\n')
        assert result.exit_code == 1
        assert "would both become" in errors(result, tmp_path)[0]
        assert not (tmp_path / "flat").exists()


class TestMoveAndRename:
    def test_move_files(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="move" SOURCE="in\\*.txt" DEST="out" />\n')
        assert result.exit_code == 0, result.output
        assert files(tmp_path / "out") == ["B.TXT", "a.txt"]
        assert files(tree) == ["c.csv", "notes", "sub/d.txt"]

    def test_move_refused_keeps_the_source(self, tmp_path: Path, tree: Path) -> None:
        (tmp_path / "a.txt").write_text("mine")
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="move" SOURCE="in\\a.txt" DEST="a.txt" />\n')
        assert result.exit_code == 1
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="move">: "a.txt" exists: add '
            'OVERWRITE="YES" to replace it (nothing was copied or moved)'
        )
        assert (tree / "a.txt").exists()
        assert (tmp_path / "a.txt").read_text() == "mine"

    def test_move_a_folder_with_overwrite(self, tmp_path: Path, tree: Path) -> None:
        (tmp_path / "dest" / "in").mkdir(parents=True)
        (tmp_path / "dest" / "in" / "a.txt").write_text("old")
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="move" SOURCE="in" DEST="dest" MODE="folder"'
            ' OVERWRITE="YES" />\n',
        )
        assert result.exit_code == 0, result.output
        assert not tree.exists()
        assert (tmp_path / "dest" / "in" / "a.txt").read_text() == "a.txt"

    def test_rename_in_place(self, tmp_path: Path, tree: Path) -> None:
        result = run(
            tmp_path, '<AMFILESYSTEM ACTIVITY="rename" SOURCE="in\\a.txt" DEST="renamed.txt" />\n'
        )
        assert result.exit_code == 0, result.output
        assert (tree / "renamed.txt").read_text() == "a.txt"
        assert not (tree / "a.txt").exists()

    def test_rename_onto_an_existing_name(self, tmp_path: Path, tree: Path) -> None:
        step = '<AMFILESYSTEM ACTIVITY="rename" SOURCE="in\\a.txt" DEST="c.csv"{} />\n'
        refused = run(tmp_path, step.format(""))
        assert errors(refused, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="rename">: "in/c.csv" exists: '
            'add OVERWRITE="YES" to replace it'
        )
        assert (tree / "c.csv").read_text() == "c.csv"
        allowed = run(tmp_path, step.format(' OVERWRITE="YES"'))
        assert allowed.exit_code == 0, allowed.output
        assert (tree / "c.csv").read_text() == "a.txt"

    def test_rename_refuses_masks_and_missing_sources(self, tmp_path: Path, tree: Path) -> None:
        masks = run(tmp_path, '<AMFILESYSTEM ACTIVITY="rename" SOURCE="in\\*.txt" DEST="x" />\n')
        assert "rename takes one file or folder, without masks" in errors(masks, tmp_path)[0]
        missing = run(tmp_path, '<AMFILESYSTEM ACTIVITY="rename" SOURCE="in\\zz" DEST="x" />\n')
        assert errors(missing, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="rename">: cannot rename "in/zz": '
            "No such file or directory"
        )


class TestDeleteAndFolders:
    def test_delete_with_mask_and_exclude(self, tmp_path: Path, tree: Path) -> None:
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="delete" SOURCE="in\\*.*" EXCLUDE="notes"'
            ' SUBFOLDERS="YES" />\n',
        )
        assert result.exit_code == 0, result.output
        assert files(tree) == ["notes"]
        assert (tree / "sub").is_dir()

    def test_delete_only_what_is_older_than_a_date(self, tmp_path: Path, tree: Path) -> None:
        os.utime(tree / "a.txt", (86400, 86400))  # 1/2/1970
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="delete" SOURCE="in\\*.txt"'
            ' ISOLDERTHAN="%DateSerial(2000,1,1)%" />\n',
        )
        assert result.exit_code == 0, result.output
        assert files(tree) == ["B.TXT", "c.csv", "notes", "sub/d.txt"]

    def test_delete_of_nothing_is_an_error(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="delete" SOURCE="in\\x.txt" />\n')
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="delete">: cannot delete "in/x.txt": '
            "No such file or directory"
        )

    def test_delete_folders(self, tmp_path: Path, tree: Path) -> None:
        run(tmp_path, '<AMFILESYSTEM ACTIVITY="delete" SOURCE="in\\s*" MODE="folder" />\n')
        assert not (tree / "sub").exists()
        assert (tree / "a.txt").exists()

    def test_create_folder_with_parents_and_again(self, tmp_path: Path) -> None:
        step = '<AMFILESYSTEM ACTIVITY="create_folder" FOLDER="a\\b\\c" />\n'
        result = run(tmp_path, step + step)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "a" / "b" / "c").is_dir()

    def test_create_folder_over_a_file(self, tmp_path: Path) -> None:
        (tmp_path / "f").write_text("x")
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="create_folder" FOLDER="f" />\n')
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="create_folder">: cannot create the '
            'folder "f": a file of that name exists'
        )

    def test_remove_folder_and_its_contents(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="remove_folder" FOLDER="in" />\n')
        assert result.exit_code == 0, result.output
        assert not tree.exists()

    def test_remove_a_missing_folder(self, tmp_path: Path) -> None:
        result = run(tmp_path, '<AMFILESYSTEM ACTIVITY="remove_folder" FOLDER="none" />\n')
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="remove_folder">: cannot remove the '
            'folder "none": No such file or directory'
        )


class TestListFiles:
    def test_a_folder_as_a_dataset(self, tmp_path: Path, tree: Path) -> None:
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="list_files" SOURCE="in" RESULTDATASET="ls" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="ls">\n'
            '<AMSHOWDIALOG MESSAGE="%ls.Name% %ls.Size% %ls.IsFolder%" />\n'
            "</AMLOOP>\n",
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == ["B.TXT 5 False", "a.txt 5 False", "c.csv 5 False", "notes 5 False"]

    def test_masks_subfolders_and_full_names(self, tmp_path: Path, tree: Path) -> None:
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="list_files" SOURCE="in\\*.TXT" SUBFOLDERS="YES"'
            ' RESULTDATASET="ls" />\n'
            '<AMSHOWDIALOG MESSAGE="%ls.TotalRows%" />\n'
            '<AMLOOP ACTIVITY="dataset" DATASET="ls">\n'
            '<AMSHOWDIALOG MESSAGE="%ls.FullName%" />\n'
            "</AMLOOP>\n",
        )
        assert shown(result) == [
            "3",
            str(tree / "B.TXT"),
            str(tree / "a.txt"),
            str(tree / "sub" / "d.txt"),
        ]

    def test_a_missing_folder(self, tmp_path: Path) -> None:
        result = run(
            tmp_path, '<AMFILESYSTEM ACTIVITY="list_files" SOURCE="x" RESULTDATASET="l" />\n'
        )
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM ACTIVITY="list_files">: cannot list "x": '
            "No such file or directory"
        )


IF_FILE = (
    '<AMIF ACTIVITY="file_exist" FILE="{file}"{extra}>\n'
    '<AMSHOWDIALOG MESSAGE="yes" />\n'
    "<AMELSE />\n"
    '<AMSHOWDIALOG MESSAGE="no" />\n'
    "</AMIF>\n"
)


class TestIfFileExists:
    @pytest.mark.parametrize(
        ("file", "extra", "expected"),
        [
            ("in\\a.txt", "", "yes"),
            ("in\\A.TXT", "", "yes"),
            ("in\\zz.txt", "", "no"),
            ("in\\*.csv", "", "yes"),
            ("in\\*.pdf", "", "no"),
            ("nowhere\\*.pdf", "", "no"),
            ("in\\zz.txt", ' MODE="not_exist"', "yes"),
            ("in\\a.txt", ' MODE="not_exist"', "no"),
            ("in\\a.txt", ' ACTION="not_exist"', "no"),
            ("in\\d.txt", "", "no"),
            ("in\\d.txt", ' SUBFOLDERS="YES"', "yes"),
            ("in\\*.txt", ' EXCLUDE="*.txt"', "no"),
            ("in\\a.txt", ' MODE="accessible"', "yes"),
            ("in\\a.txt", ' MODE="not_accessible"', "no"),
            ("in\\a.txt", ' ISNEWERTHAN="%DateSerial(2000,1,1)%"', "yes"),
            ("in\\a.txt", ' ISOLDERTHAN="%DateSerial(2000,1,1)%"', "no"),
        ],
    )
    def test_both_ways(
        self, tmp_path: Path, tree: Path, file: str, extra: str, expected: str
    ) -> None:
        result = run(tmp_path, IF_FILE.format(file=file, extra=extra))
        assert result.exit_code == 0, result.output
        assert shown(result) == [expected]

    def test_flat_form_and_result_dataset(self, tmp_path: Path, tree: Path) -> None:
        result = run(
            tmp_path,
            '<AMIF ACTIVITY="file_exist" FILE="in\\*.txt" RESULTDATASET="hits" />\n'
            '<AMSHOWDIALOG MESSAGE="%hits.TotalRows% %hits.Name%" />\n'
            '<AMIF ACTIVITY="end" />\n',
        )
        assert shown(result) == ["2 B.TXT"]

    def test_a_bad_date(self, tmp_path: Path, tree: Path) -> None:
        result = run(tmp_path, IF_FILE.format(file="in\\a.txt", extra=' ISNEWERTHAN="soon"'))
        assert errors(result, tmp_path)[0] == (
            'amlses: task.aml:1: <AMIF ACTIVITY="file_exist">: ISNEWERTHAN="soon" is not a '
            "date: write e.g. %DateSerial(2026,1,31)%"
        )


class TestIfFolderExists:
    @pytest.mark.parametrize(
        ("folder", "mode", "expected"),
        [
            ("in\\sub", "exist", "yes"),
            ("in\\SU*", "exist", "yes"),
            ("in\\a.txt", "exist", "no"),
            ("in\\none", "exist", "no"),
            ("in\\none", "not_exist", "yes"),
            ("in\\sub", "not_exist", "no"),
        ],
    )
    def test_both_ways(
        self, tmp_path: Path, tree: Path, folder: str, mode: str, expected: str
    ) -> None:
        result = run(
            tmp_path,
            f'<AMIF ACTIVITY="folder_exist" FOLDER="{folder}" MODE="{mode}">\n'
            '<AMSHOWDIALOG MESSAGE="yes" />\n<AMELSE />\n<AMSHOWDIALOG MESSAGE="no" />\n'
            "</AMIF>\n",
        )
        assert result.exit_code == 0, result.output
        assert shown(result) == [expected]


class TestCheck:
    def test_a_misspelt_attribute_is_named_with_a_suggestion(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="a.txt" OVERWRIT="YES">x</AMFILESYSTEM>\n'
            '<AMIF ACTIVITY="file_exist" FILE="a.txt" MODE="exists" />\n'
            '<AMIF ACTIVITY="end" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 2
        lines = result.output.replace(f"{tmp_path}/", "").splitlines()
        assert lines[0] == (
            'task.aml:1:50: error: <AMFILESYSTEM ACTIVITY="write_file">: unknown attribute '
            'OVERWRIT for <AMFILESYSTEM ACTIVITY="write_file"> (did you mean "OVERWRITE"?)'
        )
        assert any('MODE="exists" is not one of' in line for line in lines)

    def test_a_misspelt_activity_is_named_with_a_suggestion(self, tmp_path: Path) -> None:
        path = write_task(tmp_path, '<AMFILESYSTEM ACTIVITY="write_fil" FILE="a.txt" />\n')
        result = invoke("check", str(path))
        assert result.exit_code == 2
        assert 'unknown activity "write_fil" of <AMFILESYSTEM> (did you mean "write_file"?)' in (
            result.output
        )

    def test_variables_and_datasets_the_steps_create_are_known(self, tmp_path: Path) -> None:
        path = write_task(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="read_file" FILE="a.txt" RESULTVARIABLE="body" />\n'
            '<AMFILESYSTEM ACTIVITY="list_files" SOURCE="." RESULTDATASET="ls" />\n'
            '<AMSHOWDIALOG MESSAGE="%body% %ls.Name%" />\n',
        )
        result = invoke("check", str(path))
        assert result.exit_code == 0, result.output


class TestWindowsCase:
    """Tasks written on Windows name files in any case; amlses finds them as Windows would."""

    def test_a_literal_name_in_another_case_is_found(self, tmp_path: Path, tree: Path) -> None:
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="read_file" FILE="IN\\A.TXT" RESULTVARIABLE="t" />\n'
            '<AMSHOWDIALOG MESSAGE="%t%" />\n',
        )
        assert result.exit_code == 1  # only the last part of a path is looked up in any case
        result = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="read_file" FILE="in\\A.TXT" RESULTVARIABLE="t" />\n'
            '<AMSHOWDIALOG MESSAGE="%t%" />\n',
        )
        assert shown(result) == ["a.txt"]

    def test_a_target_in_another_case_is_the_same_file(self, tmp_path: Path, tree: Path) -> None:
        refused = run(tmp_path, '<AMFILESYSTEM SOURCE="in\\c.csv" DEST="in\\A.TXT" />\n')
        assert errors(refused, tmp_path)[0] == (
            'amlses: task.aml:1: <AMFILESYSTEM>: "in/a.txt" exists: add OVERWRITE="YES" to '
            "replace it (nothing was copied or moved)"
        )
        appended = run(
            tmp_path,
            '<AMFILESYSTEM ACTIVITY="write_file" FILE="in\\A.TXT" TEXT="+" APPEND="YES" />\n',
        )
        assert appended.exit_code == 0, appended.output
        assert (tree / "a.txt").read_text() == "a.txt+"
        assert not (tree / "A.TXT").exists()

    def test_a_rename_that_changes_only_the_case(self, tmp_path: Path, tree: Path) -> None:
        result = run(
            tmp_path, '<AMFILESYSTEM ACTIVITY="rename" SOURCE="in\\a.txt" DEST="A.txt" />\n'
        )
        assert result.exit_code == 0, result.output
        assert files(tree) == ["A.txt", "B.TXT", "c.csv", "notes", "sub/d.txt"]
