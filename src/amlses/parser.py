"""Temporary re-export of amlses.lang.parser with the registry's grammar (to be removed)."""

from .errors import AmlSyntaxError, Problem
from .lang.nodes import Task
from .lang.parser import MAX_DEPTH, MAX_TASK_CHARS
from .loader import parse_task

__all__ = ["MAX_DEPTH", "MAX_TASK_CHARS", "parse", "parse_with_problems"]


def parse_with_problems(text: str, name: str = "<task>") -> tuple[Task, list[Problem]]:
    return parse_task(text, name)


def parse(text: str, name: str = "<task>") -> Task:
    task, problems = parse_task(text, name)
    if problems:
        raise AmlSyntaxError(problems)
    return task
