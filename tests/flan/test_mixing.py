"""Mixture planning from counts: weights met exactly where caps allow, caps bound tasks, settings split, inverted
rows down-weighted, and impossible recipes refused naming the source."""

from __future__ import annotations

import pytest

from app.flan.mixing import Cell, MixtureError, Recipe, apportion, plan


def test_apportion_is_proportional_bounded_and_exact():
    assert apportion(10, [1, 1, 1], [10, 10, 10]) == [4, 3, 3]
    assert apportion(100, [1, 1, 1, 1], [5, 100, 100, 100]) == [5, 32, 32, 31]
    assert apportion(7, [0.0, 1.0], [10, 10]) == [0, 7]
    with pytest.raises(ValueError):
        apportion(30, [1, 1], [10, 10])


def _cells(source, task, n_per_setting, inverted=0):
    out = {Cell(source, task, s, False): n_per_setting for s in ("zs-opt", "fs-opt", "zs-noopt", "fs-noopt")}
    if inverted:
        out[Cell(source, task, "zs-opt", True)] = inverted
    return out


def test_caps_bound_big_tasks_and_weights_hold():
    counts = {**_cells("A", "big", 10_000), **_cells("A", "small", 100), **_cells("B", "b", 1_000)}
    recipe = Recipe(total=2_000, weights={"A": 0.5, "B": 0.5}, caps={"A": 900})
    quotas = plan(counts, recipe)
    by_task = {t: sum(n for c, n in quotas.items() if c.task == t) for t in ("big", "small", "b")}
    # A's 1,000 rows: examples-proportional with the cap, big capped at 900 against small's 400.
    assert by_task == {"big": 692, "small": 308, "b": 1000}
    assert sum(quotas.values()) == 2_000


def test_settings_split_and_inverted_weight():
    counts = _cells("A", "t", 1_000, inverted=1_000)
    recipe = Recipe(total=1_000, weights={"A": 1.0}, settings={"zs-opt": 0.25, "fs-opt": 0.25, "zs-noopt": 0.25,
                                                                "fs-noopt": 0.25}, inverted_weight=0.3)
    quotas = plan(counts, recipe)
    assert {c.setting: 0 for c in quotas} and sum(n for c, n in quotas.items() if c.setting == "fs-opt") == 250
    inverted = quotas[Cell("A", "t", "zs-opt", True)]
    plain = quotas[Cell("A", "t", "zs-opt", False)]
    assert (plain, inverted) == (192, 58)  # 1,000 : 1,000 x 0.3 of the setting's 250


def test_impossible_recipes_name_the_source():
    counts = {**_cells("A", "a", 1_000), **_cells("B", "b", 10)}
    with pytest.raises(MixtureError) as info:
        plan(counts, Recipe(total=1_000, weights={"A": 0.5, "B": 0.5}))
    assert "source 'B' needs 500 rows (0.5 of 1,000), but its 1 task hold 40 usable rows" in info.value.message
    with pytest.raises(MixtureError) as info:
        plan(counts, Recipe(total=1_000, weights={"A": 0.9, "B": 0.1}, caps={"A": 500}))
    assert "under the cap of 500 rows a task" in info.value.message
    with pytest.raises(MixtureError):
        plan(counts, Recipe(total=10, weights={"A": 0.5, "Missing": 0.5}))


def test_rounding_over_many_small_tasks_favours_no_setting():
    counts = {}
    for t in range(400):
        counts.update(_cells("A", f"task_{t}", 10))
    quotas = plan(counts, Recipe(total=1_000, weights={"A": 1.0}, settings={
        "zs-opt": 0.25, "fs-opt": 0.25, "zs-noopt": 0.25, "fs-noopt": 0.25}))
    per_setting = {s: sum(n for c, n in quotas.items() if c.setting == s) for s in ("zs-opt", "fs-opt", "zs-noopt",
                                                                                   "fs-noopt")}
    assert sum(per_setting.values()) == 1_000
    assert all(abs(n - 250) <= 20 for n in per_setting.values()), per_setting
