"""The argoproj.io/v1alpha1 API as msgspec Structs, and loading documents into them.

Structs are generated from Argo's JSON schema (`codegen.py`) into `_argo` and `_k8s`; this
package re-exports them with the loading, decoding and error types.
"""
from tiphys.core.spec._argo import *  # noqa: F401,F403
from tiphys.core.spec._argo import __dict__ as _argo_names
from tiphys.core.spec._base import AnyString, IntOrString, Quantity, as_text
from tiphys.core.spec._k8s import *  # noqa: F401,F403
from tiphys.core.spec._k8s import __all__ as _k8s_all
from tiphys.core.spec.decode import decode_document, encode, load_resources, to_builtins
from tiphys.core.spec.errors import Location, SpecError, SpecErrors
from tiphys.core.spec.load import Document, Limits, format_path, load_text
from tiphys.core.spec.resources import GROUP_VERSION, KINDS, WorkflowTaskResult, WorkflowTaskSet

_ARGO_ALL = sorted(n for n, v in _argo_names.items()
                   if isinstance(v, type) and n[0].isupper() and v.__module__.endswith("._argo"))

__all__ = _ARGO_ALL + list(_k8s_all) + [
    "AnyString", "IntOrString", "Quantity", "as_text",
    "decode_document", "encode", "load_resources", "to_builtins",
    "Location", "SpecError", "SpecErrors",
    "Document", "Limits", "format_path", "load_text",
    "GROUP_VERSION", "KINDS", "WorkflowTaskResult", "WorkflowTaskSet",
]
