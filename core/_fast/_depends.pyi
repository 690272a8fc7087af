"""Type stubs for the Cython depends parser (tiphys.core.dag._parse is the reference)."""
from collections.abc import Sequence

RESULT_NAMES: tuple[str, ...]

class ParseFault(ValueError):
    message: str
    pos: int
    def __init__(self, message: str, pos: int) -> None: ...

def postfix(text: str, /) -> list[tuple[str, str | None] | int]: ...
def compile_text(text: str, index: dict[str, int], bare: list[int], /
                 ) -> tuple[list[int], int, list[int], list[int] | None]: ...
def compile_names(names: Sequence[object], index: dict[str, int], bare: list[int], /
                  ) -> tuple[list[int], int, list[int], list[int]]: ...
