"""`python -m runbook` runs the CLI."""

from runbook.cli.entry import main

main()
