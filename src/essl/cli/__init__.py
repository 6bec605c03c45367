"""The ``essl`` command. Subcommand modules register parsers without importing torch."""
