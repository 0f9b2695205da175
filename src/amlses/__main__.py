"""``python -m amlses`` runs the command line (importing this module alone does not)."""

from .cli import main

if __name__ == "__main__":
    main()
