"""`python -m yizhan` runs the CLI."""

from yizhan.cli.main import main

main()
