"""Hypothesis profiles for the suite, chosen by the HYPOTHESIS_PROFILE variable.

* ``dev``: fast local iteration.
* ``ci``: derandomized, no example database and no deadline, sized so the whole
  property suite runs in about a minute on two cores.
* ``nightly``: ten times the ``ci`` examples, randomized, for finding new bugs.

Without ``HYPOTHESIS_PROFILE``, Hypothesis's own default applies, including its
automatic CI behaviour when the ``CI`` variable is set.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

CI_EXAMPLES = 40

settings.register_profile("dev", max_examples=15)
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly",
    max_examples=10 * CI_EXAMPLES,
    # Explicit: with the CI variable set, Hypothesis's default is derandomized.
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)

_profile = os.environ.get("HYPOTHESIS_PROFILE")
if _profile:
    settings.load_profile(_profile)


@pytest.fixture(autouse=True)
def _private_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test sees its own empty BPCORE_DATA_DIR: none reads or fills the user's."""
    monkeypatch.setenv("BPCORE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
