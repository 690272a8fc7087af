"""The C main-container wrapper (`emissary.c`) and its build helper."""
from .build import SOURCE, WrapperBuild, build_wrapper, build_wrapper_info

__all__ = ["SOURCE", "WrapperBuild", "build_wrapper", "build_wrapper_info"]
