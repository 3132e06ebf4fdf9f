"""What the tests of aecourse.checks share."""

import pytest


def rejects(check, answer, *fragments, **kwargs) -> str:
    """Assert that check(answer) fails with a message holding every fragment; return the message."""
    with pytest.raises(AssertionError) as err:
        check(answer, **kwargs)
    message = str(err.value)
    assert message.startswith("✗ "), message
    for fragment in fragments:
        assert fragment in message, message
    return message
