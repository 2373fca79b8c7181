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
