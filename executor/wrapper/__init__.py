"""The C main-container wrapper (`emissary.c`) and its build helper."""
from .build import HEADERS, SOURCE, WrapperBuild, build_wrapper, build_wrapper_info, find_wrapper

__all__ = ["HEADERS", "SOURCE", "WrapperBuild", "build_wrapper", "build_wrapper_info", "find_wrapper"]
