"""The `tiphys` command line (`tiphys.cli.main:main`); commands are reached through it, not imported."""

__all__: list[str] = []
