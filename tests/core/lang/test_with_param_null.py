"""withParam `null`: Go's json.Unmarshal into the item slice, no items and no error (a data
template's empty listing is `null`)."""
from __future__ import annotations

import pytest

from tiphys.core.lang import LoopError, expand_items, parse_with_param


@pytest.mark.parametrize("text", ["null", " null\n"])
def test_null_is_no_items(text: str) -> None:
    """`null` (with JSON whitespace) is an empty item list."""
    assert parse_with_param(text) == []
    assert expand_items(parse_with_param(text)) == []


@pytest.mark.parametrize("text", ["Null", "nil", '"null"', "[null"])
def test_only_the_json_literal_is_accepted(text: str) -> None:
    """Anything else that is not a JSON list is still refused."""
    with pytest.raises(LoopError, match="could not be parsed as a JSON list"):
        parse_with_param(text)
