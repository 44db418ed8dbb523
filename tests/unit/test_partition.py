"""etl.similarity.partition: no homology edge crosses splits, minimal removal, determinism, ratios, pins.

Every guarantee is checked here from the inputs and the result alone (`crossing`,
`fewest_removals`), not through the module's own helpers.
"""

from __future__ import annotations

import itertools
import random

import pytest

from etl.similarity.mmseqs import HomologyPair
from etl.similarity.partition import HOMOLOGY_CONFLICT, PINNED_CONFLICT, partition

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


# ---------------------------------------------------------------- independent checks


def crossing(assignment: dict, edges) -> list:
    """Edges whose two (kept) ends are in different splits."""
    return [(a, b) for a, b, *_ in edges if a in assignment and b in assignment and assignment[a] != assignment[b]]


def constraints_hold(kept: set, edges, pinned: dict, never_train: set) -> bool:
    """Whether the kept entities can be split with no crossing edge: no connected
    piece of them holds two pinned splits, or pinned-train and never-train."""
    neighbours = {e: set() for e in kept}
    for a, b in edges:
        if a in kept and b in kept:
            neighbours[a].add(b)
            neighbours[b].add(a)
    seen: set = set()
    for start in kept:
        if start in seen:
            continue
        piece, stack = [], [start]
        seen.add(start)
        while stack:
            e = stack.pop()
            piece.append(e)
            for n in neighbours[e] - seen:
                seen.add(n)
                stack.append(n)
        splits = {pinned[e] for e in piece if e in pinned}
        if len(splits) > 1 or (splits == {"train"} and any(e in never_train for e in piece)):
            return False
    return True


def fewest_removals(entities, edges, pinned, never_train=frozenset()) -> int:
    """Brute force: the smallest number of entities whose removal makes the constraints satisfiable."""
    for k in range(len(entities) + 1):
        for gone in itertools.combinations(sorted(entities), k):
            if constraints_hold(set(entities) - set(gone), edges, pinned, set(never_train)):
                return k
    raise AssertionError("unreachable: removing everything always works")


def unit(ids) -> dict:
    return {e: 1 for e in ids}


def realistic_graph(seed: int, n_entities: int = 3000):
    """Families of heavy-tailed size (most singletons, a few of hundreds), each a
    random tree plus extra edges, entities weighted by 1-20 QA rows."""
    rng = random.Random(seed)
    entities, edges, n = {}, [], 0
    while n < n_entities:
        family = [f"P{n + i:05d}" for i in range(min(int(rng.paretovariate(1.4)), 150))]
        n += len(family)
        for i, entity in enumerate(family):
            entities[entity] = rng.randint(1, 20)
            if i:
                edges.append((entity, family[rng.randrange(i)]))
            if i > 2 and rng.random() < 0.3:
                edges.append((entity, family[rng.randrange(i - 1)]))
    return entities, edges


def shares(assignment: dict, entities: dict) -> dict:
    total = sum(entities[e] for e in assignment)
    return {s: sum(entities[e] for e, x in assignment.items() if x == s) / total for s in RATIOS}


def assert_sound(result, entities, edges, pinned=None, never_train=()):
    """No crossing edge; every entity assigned or removed, never both; constraints honoured."""
    assert crossing(result.assignment, edges) == []
    assert set(result.assignment) | set(result.removed) == set(entities)
    assert not set(result.assignment) & set(result.removed)
    assert set(result.assignment.values()) <= set(RATIOS)
    for entity, split in (pinned or {}).items():
        assert result.assignment.get(entity, split) == split, f"pinned {entity} moved"
    assert not [e for e in never_train if result.assignment.get(e) == "train"]


# ---------------------------------------------------------------- whole components


def test_a_component_lands_whole_in_one_split():
    entities = unit([f"a{i}" for i in range(10)] + [f"s{i}" for i in range(40)])
    chain = [(f"a{i}", f"a{i + 1}") for i in range(9)]
    result = partition(entities, chain)
    assert_sound(result, entities, chain)
    assert len({result.assignment[f"a{i}"] for i in range(10)}) == 1
    assert result.removed == {}


def test_together_groups_share_a_split_without_homology_edges():
    entities = unit(["iso1", "iso2", "iso3", *(f"s{i}" for i in range(30))])
    result = partition(entities, together=[["iso1", "iso2"], ["iso3", "iso2"]])
    assert len({result.assignment[e] for e in ("iso1", "iso2", "iso3")}) == 1


def test_homology_pairs_with_identity_and_coverage_are_accepted():
    entities = unit(["A", "B", "C", *(f"s{i}" for i in range(30))])
    pairs = [HomologyPair("A", "B", 0.41, 0.9, 0.95), HomologyPair("B", "C", 0.33, 0.85, 0.81)]
    result = partition(entities, pairs)
    assert_sound(result, entities, pairs)
    assert result.assignment["A"] == result.assignment["B"] == result.assignment["C"]


# ---------------------------------------------------------------- conflicts: minimal removal


def test_chain_between_disagreeing_pins_loses_one_entity():
    entities = unit("abcdef")
    chain = list(zip("abcde", "bcdef"))
    pinned = {"a": "train", "f": "test"}
    result = partition(entities, chain, pinned=pinned)
    assert_sound(result, entities, chain, pinned)
    assert len(result.removed) == 1 == fewest_removals(entities, chain, pinned)
    assert set(result.removed) <= set("bcde"), "an unpinned entity is cut before a pinned one"
    assert set(result.removed.values()) == {HOMOLOGY_CONFLICT}


def test_star_loses_only_its_center():
    leaves = {"t1": "train", "t2": "train", "t3": "train", "x1": "test", "x2": "validation"}
    entities = unit(["hub", *leaves])
    star = [("hub", leaf) for leaf in leaves]
    result = partition(entities, star, pinned=leaves)
    assert_sound(result, entities, star, leaves)
    assert result.removed == {"hub": HOMOLOGY_CONFLICT}


def test_two_cliques_joined_through_one_entity_lose_that_entity():
    left, right = [f"l{i}" for i in range(4)], [f"r{i}" for i in range(4)]
    edges = [*itertools.combinations(left, 2), *itertools.combinations(right, 2), ("l0", "bridge"), ("bridge", "r0")]
    entities = unit([*left, *right, "bridge"])
    pinned = {"l3": "train", "r3": "validation"}
    result = partition(entities, edges, pinned=pinned)
    assert_sound(result, entities, edges, pinned)
    assert len(result.removed) == 1 == fewest_removals(entities, edges, pinned)


def test_clique_with_pins_in_three_splits_loses_all_but_one_pinned_entity():
    members = ["a", "b", "c", "d", "e"]
    edges = list(itertools.combinations(members, 2))
    pinned = {"a": "train", "b": "validation", "c": "test"}
    result = partition(unit(members), edges, pinned=pinned)
    assert_sound(result, unit(members), edges, pinned)
    assert len(result.removed) == 2 == fewest_removals(unit(members), edges, pinned)


def test_removal_is_minimal_on_small_random_graphs():
    rng = random.Random(3)
    for _ in range(150):
        names = [f"n{i}" for i in range(rng.randint(5, 9))]
        edges = [pair for pair in itertools.combinations(names, 2) if rng.random() < 0.35]
        pinned = {e: rng.choice(list(RATIOS)) for e in rng.sample(names, rng.randint(2, 4))}
        never_train = set(rng.sample(names, rng.randint(0, 2)))
        result = partition(unit(names), edges, pinned=pinned, never_train=never_train, max_component_fraction=1.0)
        assert_sound(result, unit(names), edges, pinned, never_train)
        assert len(result.removed) == fewest_removals(unit(names), edges, pinned, never_train), (edges, pinned)


def test_identical_sequences_pinned_to_two_splits_keep_the_heavier_split():
    entities = {"P1": 5, "P1-2": 1, "other": 1}
    result = partition(entities, together=[["P1", "P1-2"]], pinned={"P1": "test", "P1-2": "train"})
    assert result.assignment["P1"] == "test"
    assert result.removed == {"P1-2": PINNED_CONFLICT}


# ---------------------------------------------------------------- a giant component


def test_giant_chain_is_carved_by_ratios_at_two_cut_points():
    chain = [f"c{i:03d}" for i in range(200)]
    edges = list(zip(chain, chain[1:]))
    entities = unit([*chain, *(f"s{i}" for i in range(50))])
    result = partition(entities, edges, max_component_fraction=0.5)
    assert_sound(result, entities, edges)
    assert len(result.removed) == 2, "one separator each for the validation and the test region"
    assert {result.assignment[c] for c in chain if c in result.assignment} == set(RATIOS)
    assert result.report["components_cut"] == {"too_large": 1}
    assert result.report["ratios_within_tolerance"]


def test_component_too_large_for_train_is_cut_by_default():
    members = [f"g{i:03d}" for i in range(90)]
    edges = list(zip(members, members[1:])) + [(members[i], members[i + 3]) for i in range(0, 87, 5)]
    entities = unit([*members, *(f"s{i}" for i in range(10))])
    result = partition(entities, edges)
    assert_sound(result, entities, edges)
    assert result.report["largest_component"]["share"] == pytest.approx(0.9)
    assert result.report["components_cut"] == {"too_large": 1}
    assert abs(shares(result.assignment, entities)["train"] - 0.8) <= 0.02


def test_a_component_too_large_for_validation_goes_to_train():
    family = [f"f{i}" for i in range(15)]
    entities = unit([*family, *(f"s{i}" for i in range(85))])
    edges = list(zip(family, family[1:]))
    result = partition(entities, edges)
    assert {result.assignment[f] for f in family} == {"train"}


# ---------------------------------------------------------------- determinism, ratios


def test_shuffled_input_gives_the_same_partition():
    entities, edges = realistic_graph(seed=1)
    pinned = dict(itertools.islice(((e, "test") for e in entities if e.endswith("7")), 20))
    expected = partition(entities, edges, pinned=pinned, never_train={"P00011"})
    rng = random.Random(9)
    for _ in range(3):
        shuffled_entities = dict(rng.sample(list(entities.items()), len(entities)))
        shuffled_edges = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in rng.sample(edges, len(edges))]
        result = partition(shuffled_entities, shuffled_edges, pinned=pinned, never_train={"P00011"})
        assert result.assignment == expected.assignment
        assert result.removed == expected.removed


def test_another_salt_draws_another_sound_split():
    entities, edges = realistic_graph(seed=2)
    first, second = partition(entities, edges, salt="a"), partition(entities, edges, salt="b")
    assert first.assignment != second.assignment
    for result in (first, second):
        assert_sound(result, entities, edges)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_ratios_within_two_points_on_a_realistic_graph(seed):
    entities, edges = realistic_graph(seed)
    result = partition(entities, edges)
    assert_sound(result, entities, edges)
    measured = shares(result.assignment, entities)
    assert all(abs(measured[s] - RATIOS[s]) <= 0.02 for s in RATIOS), measured
    assert result.report["ratios_within_tolerance"]
    assert {s: v["share"] for s, v in result.report["splits"].items()} == pytest.approx(measured)


# ---------------------------------------------------------------- a later release: pins, never_train


def test_a_later_release_keeps_every_pinned_split_and_new_entities_join_their_neighbours():
    entities, edges = realistic_graph(seed=7)
    first = partition(entities, edges)
    rng = random.Random(8)
    old = sorted(first.assignment)
    new_entities = {f"N{i:04d}": 1 for i in range(300)}
    new_edges = [(n, rng.choice(old)) for n in new_entities if rng.random() < 0.5]
    later_entities, later_edges = entities | new_entities, edges + new_edges
    later = partition(later_entities, later_edges, pinned=first.assignment)
    assert_sound(later, later_entities, later_edges, first.assignment)
    for new, old_neighbour in new_edges:
        if new in later.assignment and later.removed.get(old_neighbour) is None:
            assert later.assignment[new] == first.assignment[old_neighbour]
    assert later.report["pinned"]["kept_split"] == len(first.assignment) - sum(e in later.removed for e in old)
    assert later.report["ratios_within_tolerance"]


def test_a_new_entity_between_old_train_and_old_test_is_removed_not_the_old_ones():
    entities = unit(["old_train", "old_test", "new", *(f"s{i}" for i in range(20))])
    edges = [("old_train", "new"), ("new", "old_test")]
    pinned = {"old_train": "train", "old_test": "test"}
    result = partition(entities, edges, pinned=pinned)
    assert result.removed == {"new": HOMOLOGY_CONFLICT}
    assert result.assignment["old_train"] == "train" and result.assignment["old_test"] == "test"


def test_pins_of_entities_no_longer_present_are_ignored():
    result = partition(unit(["a", "b"]), pinned={"gone": "test", "a": "validation"})
    assert result.assignment["a"] == "validation"
    assert result.report["pinned"]["entities"] == 1


def test_never_train_entities_and_their_homologs_stay_out_of_train():
    entities, edges = realistic_graph(seed=10)
    never_train = {e for e in entities if e.endswith("3")}
    result = partition(entities, edges, never_train=never_train)
    assert_sound(result, entities, edges, never_train=never_train)
    assert result.removed == {}
    assert result.report["never_train"] == {"entities": len(never_train), "in_train": 0}


def test_never_train_next_to_a_train_pin_is_separated():
    entities = unit(["pinned_train", "link", "held_out", *(f"s{i}" for i in range(20))])
    edges = [("pinned_train", "link"), ("link", "held_out")]
    pinned = {"pinned_train": "train"}
    result = partition(entities, edges, pinned=pinned, never_train={"held_out"})
    assert_sound(result, entities, edges, pinned, {"held_out"})
    assert result.removed == {"link": HOMOLOGY_CONFLICT}


# ---------------------------------------------------------------- inputs and report


@pytest.mark.parametrize("call, message", [
    (lambda: partition(unit("ab"), [("a", "z")]), "unknown entity"),
    (lambda: partition(unit("ab"), together=[["a", "z"]]), "unknown entities"),
    (lambda: partition(unit("ab"), pinned={"a": "holdout"}), "pinned splits"),
    (lambda: partition(unit("ab"), ratios={"validation": 0.5, "test": 0.5}), "must name 'train'"),
    (lambda: partition(unit("ab"), ratios={"train": 0.5, "test": 0.4}), "sum to 1"),
    (lambda: partition({"a": 0}), "positive"),
    (lambda: partition(unit("ab"), max_component_fraction=0), "max_component_fraction"),
])
def test_bad_inputs_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_report_counts_components_removals_and_pins():
    entities = unit(["a", "b", "c", "d", "e", *(f"s{i}" for i in range(45))])
    edges = [("a", "b"), ("b", "c"), ("d", "e")]
    result = partition(entities, edges, pinned={"a": "train", "c": "test", "d": "validation"})
    report = result.report
    assert report["entities"] == 50 and report["components"] == 47
    assert report["largest_component"] == {"entities": 3, "weight": 3, "share": 3 / 50}
    assert report["components_cut"] == {"constraint_conflict": 1}
    assert report["removed"] == {"total": 1, HOMOLOGY_CONFLICT: 1}
    assert report["pinned"] == {"entities": 3, "kept_split": 3, "joined_pinned_split": 1}
    assert sum(v["entities"] for v in report["splits"].values()) == 49
