"""A real kube-apiserver + etcd test cluster: the pytest plugin and its own tests."""

__all__ = ["fixture"]
