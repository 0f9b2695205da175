"""``python -m amlses`` runs the command line."""

from .cli import main

main()
