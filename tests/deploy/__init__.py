"""Tests of deploy/ (kustomize bases), the Dockerfile, and both against the real kube-apiserver."""

__all__: list[str] = []
