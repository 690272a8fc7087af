"""The `tiphys` command line: one click group, one module per command.

`lint` and `run` work on this machine; the others talk to a cluster's kube-apiserver as
`argo` does without `ARGO_SERVER` (kubeconfig, `--context`, `-n`). Exit status: 0 ok, 1 a
failure (API error, missing object, a Failed/Error workflow under `--wait`), 2 bad usage.
"""
from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="tiphys")
# kubectl's global flags may also come before the command (`kubectl tiphys -n ns list`);
# a command's own flags win (`_client.cluster_options` reads these as defaults).
@click.option("--kubeconfig", default=None, help="Path to the kubeconfig file for cluster commands.")
@click.option("--context", "kube_context", default=None, help="The kubeconfig context for cluster commands.")
@click.option("-n", "--namespace", default=None, help="The namespace for cluster commands.")
def main(kubeconfig: str | None, kube_context: str | None, namespace: str | None) -> None:
    """tiphys: a drop-in, Kubernetes-native Argo Workflows controller."""


from tiphys.cli import lint as _lint, run as _run  # noqa: E402  (commands register themselves)
from tiphys.cli import (control as _control, delete as _delete, get as _get, list as _list,  # noqa: E402
                        logs as _logs, node as _node, resubmit as _resubmit, retry as _retry, submit as _submit,
                        templates as _templates, wait as _wait, watch as _watch)

main.add_command(_lint.lint)
main.add_command(_run.run)
for _command in (_submit.submit, _list.list_, _get.get, _watch.watch, _logs.logs, _delete.delete,
                 _control.suspend, _control.resume, _control.stop, _control.terminate, _node.node, _retry.retry,
                 _resubmit.resubmit, _wait.wait, _templates.template, _templates.cluster_template,
                 _templates.cron):
    main.add_command(_command)
