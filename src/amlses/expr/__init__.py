"""``%…%`` scanning, substitution and condition evaluation: Automate's BASIC subset, safely.

Automate hands the text between a pair of ``%`` signs to its BASIC interpreter and splices the
result back (spec/aml-core.md §3, aml-reference.md §3.2).  This package is that interpreter, for
the VBA-like subset an SES task needs, and it never calls Python's ``eval``/``exec``:

* :func:`scan` splits an attribute value into literal text and ``%expr%`` parts, with offsets;
* :func:`substitute` evaluates each part and splices it in (a lone ``%x%`` keeps its type);
* :func:`evaluate` runs one full expression, :func:`condition` an ``AMIF``/loop ``EXPRESSION``
  (Simple or Complex mode, spec/aml-reference.md §4.4);
* :func:`problems` and :func:`references` serve ``amlses check``: syntax errors, unknown
  functions and wrong argument counts, and the variable names a text reads, without a scope.

Names are resolved through a :class:`Scope` into *value tokens*.  A value is never pasted into the
expression text and parsed again, so an identity holding quotes, spaces, ``%`` or ``&`` cannot
change what an expression means.  Parsed expressions are cached, because loops evaluate the same
text thousands of times; the tokenizer and parser are linear and bounded in length and nesting
(:data:`MAX_EXPRESSION_LENGTH`, :data:`MAX_DEPTH`), so hostile input fails fast and never with a
``RecursionError``.

The modules, from the bottom up (each imports only those before it, and :mod:`amlses.values`,
which holds :data:`Value`, :func:`to_text` and the coercions every layer shares):

* :mod:`.failure` — errors with offsets, rendered as ``ExpressionError`` with a position;
* :mod:`.scanner` — ``%…%`` segments and the map from decoded to raw offsets;
* :mod:`.env` — the :class:`Scope` and the clock an evaluation reads;
* :mod:`.operators` — precedence, arithmetic and comparisons;
* :mod:`.builtin`, :mod:`.dates`, :mod:`.format`, :mod:`.functions` — the built-in functions
  and their table;
* :mod:`.nodes`, :mod:`.lexer`, :mod:`.parser` — the tree, the tokens and the parser;
* :mod:`.evaluator` — static checks, the cached programs, :func:`substitute` and :func:`evaluate`;
* :mod:`.simple`, :mod:`.check` — conditions, and the checks for ``amlses check``.

Decisions where Automate's behaviour is not documented are described in the module that makes
them: the text of a value in :mod:`amlses.values`; ``+``, logical ``Not``/``And``/``Or`` and
comparisons in :mod:`.operators`; ``Split``'s list and ``IIf`` in :mod:`.functions`; the
Simple-mode rule in :mod:`.simple`.
"""

from __future__ import annotations

from ..values import MAX_TEXT_LENGTH, Value, to_text
from .check import KINDS, problems, references
from .env import Scope
from .evaluator import MAX_EXPRESSION_LENGTH, evaluate, substitute
from .parser import MAX_DEPTH
from .scanner import Segment, scan
from .simple import condition

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_TEXT_LENGTH",
    "Scope",
    "Segment",
    "KINDS",
    "Value",
    "condition",
    "evaluate",
    "problems",
    "references",
    "scan",
    "substitute",
    "to_text",
]
