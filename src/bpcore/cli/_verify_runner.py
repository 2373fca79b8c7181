"""The work behind ``bpcore verify``: Hypothesis runs of the generic properties, outside pytest.

Needs the ``verify`` extra (Hypothesis); :mod:`bpcore.cli._verify` imports it only when run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import final

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from bpcore.properties import GENERIC_PROPERTIES, Property
from bpcore.registry import LayerSpec, registered


@final
@dataclass
class Row:
    """One line of the verify table."""

    layer: str
    prop: str
    examples: int
    worst: float
    status: str
    detail: str = ""


def check(spec: LayerSpec, prop: Property, *, examples: int, seed: int | None) -> Row:
    """Run one property over one spec for ``examples`` examples and summarise it."""
    seen = [0]
    worst = [0.0]

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=seed is None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        seen[0] += 1
        worst[0] = max(worst[0], prop(data.draw(spec.cases()), data.draw))

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        run()
    except AssertionError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Row(spec.name, prop.__name__, seen[0], worst[0], "FAIL", first)
    return Row(spec.name, prop.__name__, seen[0], worst[0], "ok")


def run_table(*, examples: int, layers: list[str] | None, seed: int | None) -> int:
    """Print the table; return 0 when every property holds, 1 otherwise."""
    if examples < 1:
        raise ValueError(f"verify: expected --examples >= 1, got {examples}.")
    specs = registered(layers)
    rows: list[Row] = []
    start = time.perf_counter()
    header = f"{'layer':<18} {'property':<40} {'examples':>8} {'worst rel err':>14}  status"
    print(header)
    print("-" * len(header))
    for spec in specs:
        for prop in GENERIC_PROPERTIES.values():
            row = check(spec, prop, examples=examples, seed=seed)
            rows.append(row)
            figures = f"{row.examples:>8} {row.worst:>14.3e}"
            print(f"{row.layer:<18} {row.prop:<40} {figures}  {row.status}", flush=True)
            if row.detail:
                print(f"    {row.detail}")
    failed = sum(row.status != "ok" for row in rows)
    elapsed = time.perf_counter() - start
    print(f"{len(rows) - failed} passed, {failed} failed ({elapsed:.1f} s)")
    return 1 if failed else 0
