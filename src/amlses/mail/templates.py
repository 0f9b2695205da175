"""SES templates: the six template operations, :class:`Template` and :class:`TemplateInfo`.

A template holds ``{{name}}`` placeholders in its subject and bodies; ``SendTemplatedEmail``
(:mod:`amlses.mail.send`) and ``SendBulkTemplatedEmail`` (:mod:`amlses.mail.bulk`) fill them
from JSON replacement data.  Managing templates makes no send, so nothing here is resent: the
calls go through the session's ordinary client (botocore's retries apply, as for identities),
and their errors get the same hints as the sends (:func:`~amlses.mail.send.explain`).

Deleting a template that does not exist succeeds, as in SES (and like deleting an identity,
spec 4.13).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, NamedTuple, TypedDict, cast

from ..aws.transport import paginate, translate_errors
from ..errors import AwsError, StepError
from .addresses import parse_template_data, template_name
from .common import MailError, TemplateData
from .send import raise_explained

if TYPE_CHECKING:
    from ..aws.clients import SesClientSource

__all__ = [
    "Template",
    "TemplateInfo",
    "create_template",
    "delete_template",
    "get_template",
    "list_templates",
    "test_render_template",
    "update_template",
]

# SES caps ListTemplates' MaxItems at 100.
_PAGE_SIZE: Final = 100


@dataclass(frozen=True)
class Template:
    """An SES template: ``{{name}}`` placeholders in subject and bodies."""

    name: str
    subject: str
    text: str = ""
    html: str = ""


class TemplateInfo(NamedTuple):
    """One row of :func:`list_templates`; field names are the dataset's columns."""

    Name: str
    CreatedTimestamp: datetime | str


class _TemplateResponse(TypedDict, total=False):
    TemplateName: str
    SubjectPart: str
    TextPart: str
    HtmlPart: str


class _TemplateMetadata(TypedDict, total=False):
    Name: str
    CreatedTimestamp: datetime


class _ListTemplatesResponse(TypedDict, total=False):
    TemplatesMetadata: list[_TemplateMetadata]
    NextToken: str


class _GetTemplateResponse(TypedDict):
    Template: _TemplateResponse


class _TestRenderTemplateResponse(TypedDict):
    RenderedTemplate: str


@contextmanager
def _checked(operation: str, template: str) -> Iterator[None]:
    """:func:`~amlses.aws.transport.translate_errors`, then
    :func:`~amlses.mail.send.explain` for the template errors."""
    try:
        with translate_errors(operation):
            yield
    except AwsError as error:
        raise_explained(error, {"template": template})


def _template_payload(
    name: str, subject: str, text: str | None, html: str | None
) -> dict[str, str]:
    if not subject.strip():
        raise StepError("A template needs a subject; give SUBJECT (it may use {{name}}).")
    if text is None and html is None:
        raise MailError("NoBody", "A template needs a body: give TEXTBODY or HTMLBODY, or both.")
    payload = {"TemplateName": template_name(name), "SubjectPart": subject}
    if text is not None:
        payload["TextPart"] = text
    if html is not None:
        payload["HtmlPart"] = html
    return payload


def create_template(
    session: SesClientSource,
    name: str,
    *,
    subject: str,
    text: str | None = None,
    html: str | None = None,
) -> None:
    """Create a template; one of the same name already existing is an error (SES)."""
    _put_template(session, "CreateTemplate", name, subject, text, html)


def update_template(
    session: SesClientSource,
    name: str,
    *,
    subject: str,
    text: str | None = None,
    html: str | None = None,
) -> None:
    """Replace an existing template's subject and bodies."""
    _put_template(session, "UpdateTemplate", name, subject, text, html)


def _put_template(
    session: SesClientSource,
    operation: str,
    name: str,
    subject: str,
    text: str | None,
    html: str | None,
) -> None:
    """CreateTemplate and UpdateTemplate take the same payload; one place builds and sends it."""
    payload = _template_payload(name, subject, text, html)
    call = (
        session.client.create_template
        if operation == "CreateTemplate"
        else (session.client.update_template)
    )
    with _checked(operation, payload["TemplateName"]):
        call(Template=payload)


def delete_template(session: SesClientSource, name: str) -> bool:
    """Delete a template; returns whether it existed.

    Deleting a template that does not exist succeeds, as in SES (and like deleting an
    identity, spec 4.13).  The existence check (``GetTemplate``) comes first because moto
    answers that case with a 500 rather than SES's 200.
    """
    template = template_name(name)
    try:
        get_template(session, template)
    except AwsError as error:
        if error.code != "TemplateDoesNotExist":
            raise
        return False
    with _checked("DeleteTemplate", template):
        session.client.delete_template(TemplateName=template)
    return True


def get_template(session: SesClientSource, name: str) -> Template:
    """A template's subject and bodies."""
    template = template_name(name)
    with _checked("GetTemplate", template):
        response = cast(_GetTemplateResponse, session.client.get_template(TemplateName=template))
    raw = response["Template"]
    return Template(
        raw.get("TemplateName", template),
        raw.get("SubjectPart", ""),
        raw.get("TextPart", ""),
        raw.get("HtmlPart", ""),
    )


def list_templates(session: SesClientSource) -> list[TemplateInfo]:
    """Every template of the account and region, across all pages, in SES order."""
    pages = paginate(session.client.list_templates, "ListTemplates", MaxItems=_PAGE_SIZE)
    return [
        TemplateInfo(str(item["Name"]), item.get("CreatedTimestamp", ""))
        for page in cast(Iterator[_ListTemplatesResponse], pages)
        for item in page.get("TemplatesMetadata", [])
    ]


def test_render_template(session: SesClientSource, name: str, data: TemplateData | None) -> str:
    """The MIME message SES would send for ``name`` with ``data`` (``TestRenderTemplate``)."""
    template = template_name(name)
    text = parse_template_data(data, "TEMPLATEDATA")
    with _checked("TestRenderTemplate", template):
        response = cast(
            _TestRenderTemplateResponse,
            session.client.test_render_template(TemplateName=template, TemplateData=text),
        )
    return str(response["RenderedTemplate"])
