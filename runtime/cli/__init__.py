"""`daggerc` subcommands that run workflows (worker, start, status, list, cancel, send,
dead-letters, serve).

Each module has HELP, add_arguments(parser) and run(args) -> int, and imports the engine inside
`run`, so `daggerc --help` stays light.
"""
