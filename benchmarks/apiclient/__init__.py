"""Benchmarks of the kube-apiserver HTTP client's decode path."""
