"""The `tiphys` command line: one click group, one module per command."""
import click


@click.group()
@click.version_option(package_name="tiphys")
def main() -> None:
    """tiphys: a drop-in, Kubernetes-native Argo Workflows controller."""


from tiphys.cli import lint as _lint, run as _run  # noqa: E402  (commands register themselves)

main.add_command(_lint.lint)
main.add_command(_run.run)
