"""Temporary re-export of amlses.lang.nodes (to be removed)."""

from .lang.nodes import Attribute, Block, Step, Task, walk

__all__ = ["Attribute", "Block", "Step", "Task", "walk"]
