"""Small statistics of the result reports."""

from __future__ import annotations

import pytest

from audiocs.report import wilson_interval


def test_wilson_interval_against_known_values() -> None:
    # Wilson's interval for 8 of 10 (z = 1.96): 0.4902 .. 0.9433 (standard textbook value)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    low, high = wilson_interval(0, 20)  # no successes: starts at 0, not below
    assert low == 0.0 and high == pytest.approx(0.1611, abs=1e-4)
    assert wilson_interval(20, 20)[1] == pytest.approx(1.0)
    narrow, wide = wilson_interval(720, 800), wilson_interval(72, 80)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]  # more test clips, a tighter interval
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
