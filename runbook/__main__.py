"""`python -m runbook` runs the CLI."""

from runbook.cli.main import main

main()
