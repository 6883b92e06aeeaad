"""`python -m yizhan` runs the CLI."""

from yizhan.cli import main

main()
