"""AML text -> :class:`~amlses.lang.nodes.Task`.

AML is not reliably well-formed XML (spec ``aml-core.md`` §1): Automate 11 writes blocks as a flat
sequence where a *self-closing* ``<AMIF … />`` opens a block closed by ``<AMIF ACTIVITY="end" />``,
AWE 10 and the seed nest them (``<AMIF …>`` … ``</AMIF>``), legacy steps omit the closing slash,
and comments come as ``<!-- -->`` or ``<!--- --->``.  An XML parser would reject half of the
vendor's own samples, so this module reads a stream of tags and builds the blocks itself.

It is also the security boundary for the task text: no DTD, no custom entity and no external
reference is ever honoured — a task that declares one is refused before anything is expanded.

The parser recovers from errors and goes on, so a user sees every syntax problem at once, and
the tree it recovers is good enough for ``check`` to find the other problems too.  Two readings
serve that: an element written with child elements and its own end tag is one step whatever
it means (so an unknown action with parameters is named once, not reported as a stray end
tag), and a file saved by the Task Builder (``<AMTASK><AMTASKHEAD>…<AMFUNCTION NAME="Main">``)
yields its Main function's steps, its header and its function list.

Which elements open blocks, close them or wrap a saved task is not written here: a
:class:`~amlses.lang.grammar.Grammar` built by the action registry says so (``amlses.loader``
passes it).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace

from ..errors import AmlSyntaxError, Problem
from ..source import Position, Source
from .grammar import Grammar, SavedTask
from .nodes import Attribute, Block, Function, Step, Task

MAX_TASK_CHARS = 10_000_000
MAX_DEPTH = 100

_NAME = re.compile(r"[A-Za-z_][\w.:-]*")
_SPACE = re.compile(r"\s*")
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][\w.-]*);")
_NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
#: what suggests that a value's closing quote is missing: the next attribute, or the tag's end
_MISSING_QUOTE = re.compile(r"(?<=\s)[A-Za-z_][\w.:-]*\s*=\s*[\"']|/>")


@dataclass
class _Frame:
    """An open block while its body is being read."""

    start: Step
    body: list[Step] = field(default_factory=list)
    orelse: list[Step] | None = None
    else_position: Position | None = None

    def add(self, step: Step) -> None:
        (self.orelse if self.orelse is not None else self.body).append(step)


@dataclass
class _SavedState:
    """A saved task's wrapper while it is read: its head, its functions, where we are."""

    position: Position
    header: dict[str, str] = field(default_factory=dict)
    functions: list[Function] = field(default_factory=list)
    #: the function being read: its name and where it starts
    function: tuple[str, Position] | None = None
    in_head: bool = False
    closed: bool = False
    end_line: int = 0


@dataclass
class _Pending:
    """A start tag of a non-block element, waiting for its text body and end tag."""

    step: Step
    text_start: int


class Parser:
    """Reads one task file.  Use :func:`parse` unless you need the problem list."""

    def __init__(self, source: Source, grammar: Grammar) -> None:
        self.source = source
        self.grammar = grammar
        self.text = source.text
        self.problems: list[Problem] = []
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", self.text)]
        self._stack: list[_Frame] = []
        self._top: list[Step] = []
        #: where top-level steps go: the file's top, or the saved-task function being read
        self._sink: list[Step] = self._top
        self._pending: _Pending | None = None
        #: legacy steps written without "/", by name: (the list holding one, its index, it)
        self._unclosed: dict[str, list[tuple[list[Step], int, Step]]] = {}
        self._saved: _SavedState | None = None

    # -- positions and errors ------------------------------------------------------------

    def position(self, offset: int) -> Position:
        """The 1-based line and column of ``offset``."""
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return Position(self.source.name, index + 1, offset - self._line_starts[index] + 1)

    def fail(self, message: str, offset: int, step: str | None = None) -> None:
        """Record a syntax problem at ``offset`` and carry on (the parser recovers)."""
        position = self.position(offset)
        self.problems.append(
            Problem(message, position, step=step, source_line=self.source.line(position.line))
        )

    # -- the tag stream ------------------------------------------------------------------

    def parse(self) -> Task:
        """Read the whole file, build the blocks, and return the task (problems aside)."""
        text = self.text
        if len(text) > MAX_TASK_CHARS:
            self.fail(
                f"the task file is {len(text):,} characters long; amlses reads at most "
                f"{MAX_TASK_CHARS:,}",
                0,
            )
            return Task(self.source, ())
        offset = 0
        while True:
            lt = text.find("<", offset)
            if lt < 0:
                self._text(offset, len(text))
                break
            self._text(offset, lt)
            offset = self._markup(lt)
        self._finish()
        return self._task()

    def _text(self, start: int, end: int) -> None:
        chunk = self.text[start:end]
        if self._pending is not None or not chunk.strip():
            return  # a text body is read when its end tag (or the next tag) arrives
        lead = len(chunk) - len(chunk.lstrip())
        snippet = chunk.strip().splitlines()[0][:40]
        self.fail(
            f'unexpected text "{snippet}" outside a step; every AML step is a tag such as '
            '<AMIF …> (write &lt; for a literal "<" inside an attribute value)',
            start + lead,
        )

    def _markup(self, lt: int) -> int:
        """Handle the markup starting at ``lt``; return the offset just after it."""
        text = self.text
        if text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            if end < 0:
                self.fail("comment <!-- is never closed: expected -->", lt)
                return len(text)
            return end + 3
        if text.startswith("<!", lt):
            word = _NAME.match(text, lt + 2)
            what = f"<!{word.group(0)}" if word else "<!"
            self.fail(
                f"{what} is not allowed: amlses refuses DTDs, entity declarations and other "
                "declarations in a task, so that no entity or external reference is ever expanded",
                lt,
            )
            end = text.find(">", lt)
            bracket = text.find("[", lt, end if end >= 0 else len(text))
            if bracket >= 0:  # an internal subset: skip it whole, entity declarations and all
                end = text.find("]>", bracket)
                end = -1 if end < 0 else end + 1
            return len(text) if end < 0 else end + 1
        if text.startswith("<?", lt):
            end = text.find("?>", lt)
            if not text.startswith("<?xml ", lt) and not text.startswith("<?xml?", lt):
                self.fail("processing instructions (<?…?>) are not allowed in a task", lt)
            return len(text) if end < 0 else end + 2
        if text.startswith("</", lt):
            return self._end_tag(lt)
        return self._start_tag(lt)

    def _end_tag(self, lt: int) -> int:
        text = self.text
        match = _NAME.match(text, lt + 2)
        close = text.find(">", lt)
        if match is None or close < 0 or text[match.end() : close].strip():
            self.fail("malformed end tag: expected </NAME>", lt)
            return len(text) if close < 0 else close + 1
        self._close(match.group(0).upper(), lt, f"</{match.group(0)}>")
        return close + 1

    def _start_tag(self, lt: int) -> int:
        text = self.text
        match = _NAME.match(text, lt + 1)
        if match is None:
            self.fail(
                '"<" does not start a tag: expected an element name such as <AMIF; '
                "write &lt; for a literal <",
                lt,
            )
            return lt + 1
        name = match.group(0).upper()
        attributes, offset, self_closing, ok = self._attributes(match.end(), name)
        if not ok:
            return offset
        step = Step(name, tuple(attributes), self.position(lt))
        self._step(step, self_closing, lt, offset)
        return offset

    def _attributes(self, offset: int, element: str) -> tuple[list[Attribute], int, bool, bool]:
        """Read ``NAME="value"`` pairs up to ``>`` or ``/>``.

        A value whose closing quote is missing takes the next attribute's opening quote as its
        own, and everything after it is misread, often to the end of the file, with errors far
        from the cause.  So when a tag fails and one of its values has an attribute-like
        ``NAME="`` or a ``/>`` on the line of its opening quote, the tag is read again with that
        value ending there, and the one error says where the quote is probably missing.
        """
        mark = len(self.problems)
        suspects: list[tuple[int, int, str]] = []
        found = self._read_attributes(offset, element, suspects, None)
        failed = not found[3] or len(self.problems) > mark
        if not failed or not suspects:
            return found
        quote, cut, written = suspects[0]
        del self.problems[mark:]
        self.fail(
            f"the value of {written} in <{element}> does not end where it should: a closing "
            f"quote is probably missing before column {self.position(cut).column}",
            quote,
        )
        return self._read_attributes(offset, element, [], (quote, cut))

    def _suspect(self, quote: int, end: int) -> int | None:
        """Where a quote is probably missing in the value opening at ``quote`` (the first
        ``NAME="`` or ``/>`` after it on its line), or None when the value looks whole: it
        ends on its line, short of any such thing."""
        limit = len(self.text) if end < 0 else end + 1  # never past the value: linear time
        newline = self.text.find("\n", quote, limit)
        stop = limit if newline < 0 else newline
        match = _MISSING_QUOTE.search(self.text, quote + 1, stop)
        return match.start() if match else None

    def _read_attributes(
        self,
        offset: int,
        element: str,
        suspects: list[tuple[int, int, str]],
        repair: tuple[int, int] | None,
    ) -> tuple[list[Attribute], int, bool, bool]:
        """:meth:`_attributes` once: ``suspects`` collects (quote, where a quote is probably
        missing, the attribute); ``repair`` ends the value opening at that quote there instead."""
        text = self.text
        attributes: list[Attribute] = []
        seen: set[str] = set()
        while True:
            offset = _SPACE.match(text, offset).end()  # type: ignore[union-attr]
            if text.startswith("/>", offset):
                return attributes, offset + 2, True, True
            if text.startswith(">", offset):
                return attributes, offset + 1, False, True
            match = _NAME.match(text, offset)
            if match is None:
                if offset >= len(text):
                    self.fail(f"<{element}> is never finished: expected > or />", offset)
                    return attributes, len(text), True, False
                self.fail(
                    f'unexpected "{text[offset]}" in <{element}>: expected an attribute '
                    'NAME="value", > or />',
                    offset,
                )
                return attributes, self._skip_tag(offset), True, False
            written = match.group(0)
            offset = _SPACE.match(text, match.end()).end()  # type: ignore[union-attr]
            if not text.startswith("=", offset):
                self.fail(
                    f'attribute {written} of <{element}> has no value: expected {written}="…"',
                    match.start(),
                )
                return attributes, self._skip_tag(offset), True, False
            offset = _SPACE.match(text, offset + 1).end()  # type: ignore[union-attr]
            quote = text[offset : offset + 1]
            if quote not in ('"', "'"):
                self.fail(f"the value of {written} in <{element}> must be in double quotes", offset)
                return attributes, self._skip_tag(offset), True, False
            if repair is not None and repair[0] == offset:
                end = repair[1]
                while end > offset + 1 and text[end - 1].isspace():
                    end -= 1
                after = repair[1]
            else:
                end = text.find(quote, offset + 1)
                cut = self._suspect(offset, end)
                if cut is not None:
                    suspects.append((offset, cut, written))
                if end < 0:
                    self.fail(
                        f"the value of {written} in <{element}> is never closed: expected {quote}",
                        offset,
                    )
                    return attributes, len(text), True, False
                after = end + 1
            value = self._decode(offset + 1, end)
            upper = written.upper()
            if upper in seen:
                self.fail(f"attribute {written} appears twice in <{element}>", match.start())
            else:
                seen.add(upper)
                attributes.append(
                    Attribute(
                        upper,
                        value,
                        self.position(offset + 1),
                        written,
                        self.position(match.start()),
                    )
                )
            offset = after

    def _skip_tag(self, offset: int) -> int:
        end = self.text.find(">", offset)
        return len(self.text) if end < 0 else end + 1

    def _decode(self, start: int, end: int) -> str:
        """Decode the five XML entities and numeric references in ``text[start:end]``.

        A ``&`` that does not start an entity is kept as written (Automate's UI writes ``&amp;``,
        people typing by hand often do not); a *named* entity other than the five is refused.
        """
        raw = self.text[start:end]
        if "&" not in raw:
            return raw
        out: list[str] = []
        last = 0
        for match in _ENTITY.finditer(raw):
            out.append(raw[last : match.start()])
            last = match.end()
            ref = match.group(1)
            if ref.startswith("#"):
                try:
                    code = int(ref[2:], 16) if ref[1:2] in "xX" and len(ref) > 1 else int(ref[1:])
                    if not _is_xml_char(code):  # e.g. &#xD800;: no UTF-8 request could carry it
                        raise ValueError(code)
                    out.append(chr(code))
                except (ValueError, OverflowError):
                    self.fail(f"&{ref}; is not a valid character reference", start + match.start())
            elif ref in _NAMED_ENTITIES:
                out.append(_NAMED_ENTITIES[ref])
            else:
                self.fail(
                    f"unknown entity &{ref};: amlses decodes only &amp; &lt; &gt; &quot; &apos; "
                    "and numeric references, and never custom entities",
                    start + match.start(),
                )
                out.append(match.group(0))
        out.append(raw[last:])
        return "".join(out)

    # -- building blocks -----------------------------------------------------------------

    def _step(self, step: Step, self_closing: bool, lt: int, after: int) -> None:
        self._settle_pending(lt)
        if self._saved_step(step, self_closing, lt, after):
            return
        name, activity, grammar = step.name, step.activity, self.grammar
        if name in grammar.end_tags:
            self._close(grammar.end_tags[name], lt, f"<{name}>")
        elif name in grammar.blocks and activity == "end":
            self._close(name, lt, f'<{name} ACTIVITY="end" />')
        elif name in grammar.dividers:
            self._else(step, lt)
        elif grammar.opens(name, activity):
            if len(self._stack) == MAX_DEPTH:  # reported once, where the limit is crossed
                self.fail(f"blocks are nested more than {MAX_DEPTH} deep", lt, step.label)
            self._stack.append(_Frame(step))
        elif self_closing:
            self._add(step)
        else:
            self._pending = _Pending(step, after)

    def _settle_pending(self, offset: int) -> None:
        """A start tag followed by another tag is a legacy step written without ``/``.

        Any text between the two is still taken as its body (Automate would have ended it).
        The step is remembered: should its own end tag come later at the same level, the steps
        in between turn out to be its children (:meth:`_wrap_unclosed`).
        """
        if self._pending is not None:
            pending, self._pending = self._pending, None
            body = self._decode(pending.text_start, offset).strip()
            self._add(_with_text(pending.step, body or None))
            steps = self._current()
            entry = (steps, len(steps) - 1, steps[-1])
            self._unclosed.setdefault(pending.step.name, []).append(entry)

    def _current(self) -> list[Step]:
        """The list the next step goes to: the innermost open body, else the file's top."""
        if not self._stack:
            return self._sink
        frame = self._stack[-1]
        return frame.orelse if frame.orelse is not None else frame.body

    def _add(self, step: Step) -> None:
        self._current().append(step)

    def _else(self, step: Step, lt: int) -> None:
        frame = self._stack[-1] if self._stack else None
        divides = self.grammar.dividers[step.name]
        if frame is None or frame.start.name != divides:
            inner = f"; the innermost open step is {_describe(frame)}" if frame else ""
            self.fail(f"<{step.name}> outside an <{divides}> block{inner}", lt)
        elif frame.orelse is not None:
            self.fail(
                f"a second <{step.name}> in the <{divides}> of line {frame.start.position.line}; "
                f"the first is at line {frame.else_position.line if frame.else_position else '?'}",
                lt,
            )
        else:
            frame.orelse = []
            frame.else_position = step.position

    def _close(self, name: str, lt: int, closer: str) -> None:
        pending = self._pending
        if pending is not None and pending.step.name == name and name not in self.grammar.blocks:
            self._pending = None
            body = self._decode(pending.text_start, lt).strip()
            self._add(_with_text(pending.step, body))
            return
        self._settle_pending(lt)
        if self._saved_close(name, lt):
            return
        if name in self.grammar.dividers:
            return  # <AMELSE>…</AMELSE>: the else branch runs to the end of the If
        closes = self.grammar.closes
        if self._stack and closes(name, self._stack[-1].start.name):
            self._finish_block(self._stack.pop(), self.position(lt))
            return
        if any(closes(name, frame.start.name) for frame in self._stack):
            self._close_mismatched(name, lt, closer)
            return
        if self._wrap_unclosed(name, lt, closer):
            return
        inner = (
            f"; the innermost open step is {_describe(self._stack[-1])}"
            if self._stack
            else "; no block is open"
        )
        self.fail(f"{closer} closes nothing{inner}", lt)

    def _close_mismatched(self, name: str, lt: int, closer: str) -> None:
        """An end that belongs to an outer block: report the inner one, close up to it."""
        self._report_still_open(closer, lt)
        while self._stack:  # recover: close everything up to the block this end belongs to
            frame = self._stack.pop()
            self._finish_block(frame, self.position(lt))
            if self.grammar.closes(name, frame.start.name):
                break

    def _report_still_open(self, closer: str, lt: int) -> None:
        inner = self._stack[-1]
        end = self.grammar.end_of(inner.start.name)
        self.fail(
            f"{closer} found while {_describe(inner)} is still open: expected "
            f'</{end}> or <{end} ACTIVITY="end" /> first',
            lt,
        )

    def _wrap_unclosed(self, name: str, lt: int, closer: str) -> bool:
        """``</X>`` after a ``<X …>`` that had children: the steps since it are its body.

        Any element with child elements is a block for structure's sake, whatever it means, so
        ``<AMAWSDYNAMODB …><ITEM … /></AMAWSDYNAMODB>`` reads as one step (which ``check`` then
        names) rather than as a step, a child and an end tag that closes nothing.  Only an
        element still standing in a body that is open (or at the top) can be closed so.
        """
        candidates = self._unclosed.get(name)
        if not candidates:
            return False
        levels = {id(self._sink): 0}
        for number, frame in enumerate(self._stack, start=1):
            levels[id(frame.orelse if frame.orelse is not None else frame.body)] = number
        while candidates:  # stale entries (a closed body, a wrapped step) are dropped for good
            steps, index, start = candidates.pop()
            level = levels.get(id(steps))
            if level is not None and index < len(steps) and steps[index] is start:
                break
        else:
            return False
        if level < len(self._stack):
            self._report_still_open(closer, lt)
            while len(self._stack) > level:
                self._finish_block(self._stack.pop(), self.position(lt))
        body = tuple(steps[index + 1 :])
        del steps[index:]
        end = self.position(lt)
        steps.append(
            Block(start.name, start.attributes, start.position, start.text, body=body, end=end)
        )
        return True

    def _finish_block(self, frame: _Frame, end: Position) -> None:
        start = frame.start
        block = Block(
            start.name,
            start.attributes,
            start.position,
            start.text,
            body=tuple(frame.body),
            orelse=tuple(frame.orelse) if frame.orelse is not None else None,
            end=end,
            else_position=frame.else_position,
        )
        self._add(block)

    def _close_open_blocks(self, before: str, end: int) -> None:
        """Report every block still open as never closed, and close it at ``end``."""
        while self._stack:
            frame = self._stack[-1]
            closer = self.grammar.end_of(frame.start.name)
            self.fail(
                f"{_describe(frame)} is never closed: expected </{closer}> or "
                f'<{closer} ACTIVITY="end" /> {before}',
                self._offset_of(frame.start.position),
                frame.start.label,
            )
            self._finish_block(self._stack.pop(), self.position(end))

    def _finish(self) -> None:
        self._settle_pending(len(self.text))
        state, saved = self._saved, self.grammar.saved
        if state is not None and saved is not None:
            if state.function is not None:
                name, position = state.function
                self.fail(
                    f'<{saved.function} {saved.name_attr}="{name}"> at line {position.line} is '
                    f"never closed: expected </{saved.function}>",
                    self._offset_of(position),
                )
                self._end_function(len(self.text))
            if not state.closed:
                self.fail(
                    f"<{saved.wrapper}> at line {state.position.line} is never closed: "
                    f"expected </{saved.wrapper}> at the end of the saved task",
                    self._offset_of(state.position),
                )
        self._close_open_blocks("before the end of the file", len(self.text))

    def _offset_of(self, position: Position) -> int:
        return self._line_starts[position.line - 1] + position.column - 1

    # -- the saved-task wrapper ------------------------------------------------------------

    def _saved_step(self, step: Step, self_closing: bool, lt: int, after: int) -> bool:
        """Handle a start tag of a saved task's wrapper; False for an ordinary step.

        ``<AMTASK>`` is the wrapper only as the file's first tag, without attributes and
        followed by the head or a function, so ``<AMTASK ACTIVITY="stop" />`` and
        ``<AMTASK TASKFILE="…" />`` stay steps.  Inside a function, an ``<AMFUNCTION … />``
        or one with an ACTIVITY is a step too (which ``check`` refuses: no stored page shows
        how Automate calls a function).
        """
        saved, state = self.grammar.saved, self._saved
        if saved is None:
            return False
        name = step.name
        if state is None:
            if (
                name == saved.wrapper
                and not step.attributes
                and not self_closing
                and not self._stack
                and not self._sink
                and self._wrapper_follows(after, saved)
            ):
                self._saved = _SavedState(step.position)
                self._sink = []
                return True
            return False
        if state.closed:
            if not self._stack:
                self.fail(
                    f"{step.label} stands after </{saved.wrapper}> (line {state.end_line}): "
                    "a saved task ends there",
                    lt,
                    step.label,
                )
            return False
        if state.in_head and name == saved.function:
            self.fail(
                f"<{saved.head}> is never closed: expected </{saved.head}> before the first "
                f"<{saved.function}>",
                lt,
            )
            state.in_head = False
        if state.in_head or name == saved.head:
            for attribute in step.attributes:
                state.header.setdefault(attribute.name, attribute.value)
            if name == saved.head:
                state.in_head = not self_closing
            return True
        calls = self_closing or step.get("ACTIVITY") is not None
        if name == saved.function and not (state.function is not None and calls):
            self._start_function(step, self_closing, lt)
            return True
        if state.function is None and not self._stack:
            self.fail(
                f"{step.label} stands outside every <{saved.function}> of the saved task: "
                "Automate runs only the steps of its functions",
                lt,
                step.label,
            )
        return False

    def _wrapper_follows(self, offset: int, saved: SavedTask) -> bool:
        pattern = re.compile(
            rf"\s*(?:<!--.*?-->\s*)*<(?:{re.escape(saved.head)}|{re.escape(saved.function)})[\s/>]",
            re.IGNORECASE | re.DOTALL,
        )
        return pattern.match(self.text, offset) is not None

    def _start_function(self, step: Step, self_closing: bool, lt: int) -> None:
        saved, state = self.grammar.saved, self._saved
        assert saved is not None and state is not None
        if state.function is not None:
            previous, position = state.function
            self.fail(
                f'<{saved.function} {saved.name_attr}="{previous}"> at line {position.line} is '
                f"never closed: expected </{saved.function}> before the next function",
                self._offset_of(position),
            )
            self._end_function(lt)
        name = step.value(saved.name_attr).strip()
        if not name:
            self.fail(f"<{saved.function}> has no {saved.name_attr}: every function is named", lt)
        for function in state.functions:
            if function.name.upper() == name.upper() and name:
                self.fail(
                    f'a second function named "{name}"; the first is at line '
                    f"{function.position.line}",
                    lt,
                )
        if self_closing:
            state.functions.append(Function(name, step.position))
        else:
            state.function = (name, step.position)
            self._sink = []

    def _end_function(self, end: int) -> None:
        saved, state = self.grammar.saved, self._saved
        assert saved is not None and state is not None and state.function is not None
        name, position = state.function
        line = self.position(end).line
        self._close_open_blocks(f"before </{saved.function}> at line {line}", end)
        state.functions.append(Function(name, position, tuple(self._sink)))
        state.function = None
        self._sink = []

    def _saved_close(self, name: str, lt: int) -> bool:
        """Handle an end tag of the wrapper, its head or a function; False for any other."""
        saved, state = self.grammar.saved, self._saved
        if saved is None or state is None or state.closed:
            return False
        if state.in_head:
            state.in_head = name != saved.head
            return True
        if name == saved.function and state.function is not None:
            self._end_function(lt)
            return True
        if name == saved.wrapper:
            if state.function is not None:
                function, position = state.function
                self.fail(
                    f'<{saved.function} {saved.name_attr}="{function}"> at line '
                    f"{position.line} is never closed: expected </{saved.function}> before "
                    f"</{saved.wrapper}>",
                    self._offset_of(position),
                )
                self._end_function(lt)
            state.closed = True
            state.end_line = self.position(lt).line
            return True
        return False

    def _task(self) -> Task:
        """The task read: a saved task runs its Main function, a bare file its steps."""
        saved, state = self.grammar.saved, self._saved
        if saved is None or state is None:
            return Task(self.source, tuple(self._top))
        functions = tuple(state.functions)
        main = next((f for f in functions if f.name.upper() == saved.main), None)
        if main is None:
            found = ", ".join(f.name or "(unnamed)" for f in functions)
            what = f"its functions are {found}" if functions else f"it has no <{saved.function}>"
            self.fail(
                f"the saved task has no Main function ({what}): Automate starts a task at "
                f'<{saved.function} {saved.name_attr}="Main">, so there is nothing to run',
                self._offset_of(state.position),
            )
        else:
            functions = tuple(replace(f, runs=True) if f is main else f for f in functions)
        body = main.body if main is not None else ()
        return Task(self.source, body, dict(state.header), functions)


def _is_xml_char(code: int) -> bool:
    """Whether XML allows character ``code`` (its ``Char`` production): no NUL or other C0
    control but tab and newlines, no lone surrogate, nothing beyond U+10FFFF."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _with_text(step: Step, text: str | None) -> Step:
    return Step(step.name, step.attributes, step.position, text)


def _describe(frame: _Frame | None) -> str:
    if frame is None:
        return "none"
    return f"<{frame.start.name}> at line {frame.start.position.line}"


def parse_with_problems(
    text: str, name: str = "<task>", *, grammar: Grammar
) -> tuple[Task, list[Problem]]:
    """Parse and return the (recovered) task with every syntax problem found.

    ``grammar`` says which elements open blocks; the loader passes the registry's.
    """
    parser = Parser(Source(name, text), grammar)
    task = parser.parse()
    return task, parser.problems


def parse(text: str, name: str = "<task>", *, grammar: Grammar) -> Task:
    """Parse a task; raise :class:`AmlSyntaxError` listing every syntax problem, if any."""
    task, problems = parse_with_problems(text, name, grammar=grammar)
    if problems:
        raise AmlSyntaxError(problems)
    return task
