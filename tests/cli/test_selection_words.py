"""`trainproof status` says why each interval was selected, with the rule's figures."""
from __future__ import annotations

import pytest

from trainproof.cli.commands.status import why_selected

pytestmark = pytest.mark.unit


def test_every_rule_is_said_in_words_with_its_figures():
    entry = {"reasons": ["detrended-mad", "joint", "probe-rise", "audit"], "residual": 1.5, "threshold": 0.9,
             "joint_z": 6.2, "joint_threshold": 5.0, "probe_rise": 0.081, "probe_threshold": 0.04}
    words = why_selected(entry).split("; ")
    assert words == ["outlier: unusually large weight change (residual 1.5 > threshold 0.9)",
                     "outlier: a large change that also landed on unusual inputs (z 6.2 > 5)",
                     "outlier: the model got worse on its claimed data (rise 0.081 of the initial loss > 0.04)",
                     "random audit sample"]
    assert why_selected({"reasons": ["probe-rise"]}) == "outlier: the model got worse on its claimed data"
