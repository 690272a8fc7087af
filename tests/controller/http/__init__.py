"""Tests of the kube-apiserver HTTP client against a scripted local HTTP server."""
