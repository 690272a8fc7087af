import click


@click.command()
@click.argument("paths", nargs=-1)
def lint(paths):
    """Validate workflow files the way Argo does."""
