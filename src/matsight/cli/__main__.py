"""``python -m matsight.cli`` runs the same entry point as the ``matsight`` command."""

from matsight.cli.main import main

main()
