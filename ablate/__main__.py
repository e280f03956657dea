"""``python -m ablate``: the same CLI as the ``ablate`` command."""

from ablate.cli.main import main

main()
