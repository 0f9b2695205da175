"""``amlses doc [ELEMENT [ACTIVITY]] [--json]``: the reference, generated from the registry.

The command is a thin shell over :mod:`amlses.docs`, which it imports only when it runs (and
when the shell asks for completions), so registering it costs ``amlses --help`` nothing.  A
name that matches nothing is a usage error: one ``amlses:`` paragraph with a "did you mean" on
stderr and exit 2, as everywhere else in the CLI.
"""

from __future__ import annotations

import sys

import click
from click.shell_completion import CompletionItem

from ..errors import AmlError


def _complete_element(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Element names for the shell, in the case the user started typing."""
    from .. import actions

    lower = incomplete.islower()
    names = (name.lower() if lower else name for name in sorted(actions.ELEMENTS))
    return [CompletionItem(name) for name in names if name.upper().startswith(incomplete.upper())]


def _complete_activity(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The activities of the element already on the command line, with their one-line doc."""
    from .. import docs

    try:
        element = docs.element_doc(str(ctx.params.get("element") or ""))
    except AmlError:
        return []
    return [
        CompletionItem(name, help=activity.doc)
        for activity in element.activities
        for name in (activity.name, *activity.aliases)
        if name and name.startswith(incomplete.lower())
    ]


@click.command(
    "doc",
    short_help="List every element, activity and attribute amlses knows.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.argument("element", required=False, shell_complete=_complete_element)
@click.argument("activity", required=False, shell_complete=_complete_activity)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the same content as one JSON document."
)
def doc(element: str | None, activity: str | None, as_json: bool) -> None:
    """The reference of what a task may contain, read from amlses itself.

    \b
    amlses doc                      every element and activity, and the steps amlses refuses
    amlses doc AMAWSSES             that element's activities
    amlses doc AMAWSSES send_email  that activity's attributes: type, default, required,
                                    secret, amlses extension or Automate, meaning

    Names are case-insensitive; write '' as ACTIVITY for the activity used when a step names
    none (<AMLOOP> without ACTIVITY is Loop - Range).
    """
    from .. import docs

    try:
        if element is None:
            found: docs.Reference | docs.ElementDoc | docs.ActivityDoc = docs.reference()
        elif activity is None:
            found = docs.element_doc(element)
        else:
            found = docs.activity_doc(element, activity)
    except AmlError as error:
        click.echo(f"amlses: {error.render()}", err=True)
        sys.exit(error.exit_code)
    if as_json:
        click.echo(docs.to_json(found))
    elif isinstance(found, docs.Reference):
        click.echo(docs.render_reference(found))
    elif isinstance(found, docs.ElementDoc):
        click.echo(docs.render_element(found, docs.common_attributes()))
    else:
        click.echo(docs.render_activity(found, docs.common_attributes()))
