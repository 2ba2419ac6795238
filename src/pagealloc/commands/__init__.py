"""Subcommands of the CLI, one module each (registered by cli.build_parser)."""
