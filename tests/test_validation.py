"""The one rule for seeds: None, a non-negative int, or a numpy Generator."""

import numpy as np
import pytest

from linrfm._validation import check_random_state


@pytest.mark.parametrize("value", [None, 0, 7, np.int64(3)])
def test_accepted_seeds_give_generators(value):
    assert isinstance(check_random_state(value), np.random.Generator)


def test_a_generator_is_used_as_is():
    rng = np.random.default_rng(1)
    assert check_random_state(rng) is rng


@pytest.mark.parametrize(
    ("value", "error"),
    [("abc", TypeError), (1.5, TypeError), (True, TypeError), (-5, ValueError)],
)
def test_other_seeds_are_clear_errors(value, error):
    with pytest.raises(error, match="'random_state' parameter must be None, a non-negative int"):
        check_random_state(value)
