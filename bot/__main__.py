"""`python -m bot` is the `actionbot` command."""

from bot.cli import main

main()
