"""Assign entities to splits so that no homology edge crosses two splits.

Pure and deterministic: no Spark, no MMseqs2. The inputs are entity ids with a
weight (QA rows, or 1), groups that must share a split (identical sequences,
isoforms), homology edges (from `etl.similarity.mmseqs.homology_pairs`), the split
ratios and a salt; optionally the splits of a previous release (`pinned`) and
entities that must stay out of train (`never_train`).

1. Each `together` group becomes one node (union-find), keyed by its smallest id.
2. Homology edges join nodes into connected components (a split may hold a
   component, never part of one, or its edges would cross).
3. A component goes whole into one split when it can: to its pinned split, or,
   largest first, to the split furthest below its target share. Ties in size are
   broken by a salted hash of the component's smallest id, so the result does
   not depend on input order and a new salt draws a new, equally valid split.
4. A component whose constraints disagree (entities pinned to different splits,
   or pinned-to-train and never-train entities) loses the fewest entities that
   disconnect the disagreeing groups: an exact minimum vertex cut (max-flow on
   the node-split graph) between train and held-out entities, then between the
   held-out splits. GraphPart (Teufel et al. 2023) removes greedily instead
   (most crossing neighbours first): on 400 random graphs of 4-10 nodes with 2-4
   pinned nodes, that removed more than the brute-force minimum in 84; this
   removed the minimum in all 1,900 graphs tried.
5. A component (or piece left by 4) heavier than `max_component_fraction` of all
   the weight is carved by the ratios into compact breadth-first regions, and
   nodes with neighbours in another region are removed GraphPart's way, most
   such neighbours first, until no edge crosses.
Entities removed in 4 and 5 are returned with reason `homology_conflict`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from etl.split import unit_interval_hash

TRAIN = "train"
DEFAULT_RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
DEFAULT_SALT = "lifeqa-split-v1"
RATIO_TOLERANCE_POINTS = 2.0
# Above this many nodes a conflict over three pinned splits is cut in one order,
# not all six: each order costs up to three max-flows over the component.
ORDERS_TRIED_UP_TO = 2000

# Reasons an entity is left out of every split.
HOMOLOGY_CONFLICT = "homology_conflict"  # removed so that the rest of its component could be cut
PINNED_CONFLICT = "pinned_conflict"  # shares a sequence with entities the previous release put elsewhere


@dataclass(frozen=True)
class PartitionResult:
    assignment: dict[str, str]  # entity -> split
    removed: dict[str, str]  # entity -> reason
    report: dict


@dataclass(frozen=True)
class Node:
    """Entities that must share a split (one entity, or identical sequences / isoforms)."""

    key: str  # the smallest member id
    members: tuple[str, ...]
    weight: float
    pin: str | None
    never_train: bool

    def allows(self, split: str) -> bool:
        if self.pin is not None:
            return split == self.pin
        return not (self.never_train and split == TRAIN)


class UnionFind:
    """Disjoint sets whose representative is always the smallest member."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = item
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent.get(item, item)
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = sorted((self.find(a), self.find(b)))
        if root_a != root_b:
            self.parent[root_b] = root_a


def partition(
    entities: Mapping[str, float],
    homology: Iterable[tuple] = (),
    *,
    together: Iterable[Iterable[str]] = (),
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    salt: str = DEFAULT_SALT,
    pinned: Mapping[str, str] | None = None,
    never_train: Iterable[str] = (),
    max_component_fraction: float | None = None,
) -> PartitionResult:
    """Assign every entity a split, or remove it, so that no homology edge joins two splits.

    `homology` items start with two entity ids (a `HomologyPair` fits). `pinned`
    entries for entities not in `entities` are ignored (entries of an earlier
    release that are gone). `max_component_fraction` defaults to the train ratio:
    a component that could not fit whole even in train is cut.
    """
    splits = split_order(ratios)
    check_weights(entities)
    pinned = {entity: split for entity, split in (pinned or {}).items() if entity in entities}
    unknown_splits = set(pinned.values()) - set(splits)
    if unknown_splits:
        raise ValueError(f"pinned splits {sorted(unknown_splits)} are not among {splits}")
    never_train = set(never_train) & entities.keys()
    fraction = ratios[TRAIN] if max_component_fraction is None else max_component_fraction
    if not 0 < fraction <= 1:
        raise ValueError(f"max_component_fraction must be in (0, 1], got {fraction}")

    removed: dict[str, str] = {}
    nodes = build_nodes(entities, together, pinned, never_train, splits, removed)
    node_of = {member: node.key for node in nodes.values() for member in node.members}
    adjacency = node_adjacency(homology, node_of, entities)
    components = connected_components(sorted(nodes), adjacency)

    weight_limit = fraction * sum(node.weight for node in nodes.values())
    labels: dict[str, str] = {}
    free: list[tuple[list[str], list[str]]] = []
    cuts = Counter()
    joined_pinned = 0
    for component in components:
        pieces = [component]
        if not allowed_splits(component, nodes, splits):
            cuts["constraint_conflict"] += 1
            pieces = separate_disagreeing_constraints(component, adjacency, nodes, splits, removed)
        for piece in pieces:
            allowed = allowed_splits(piece, nodes, splits)
            if component_weight(piece, nodes) > weight_limit:
                cuts["too_large"] += 1
                labels.update(carve(piece, adjacency, nodes, splits, ratios, salt, removed))
            elif any(nodes[k].pin for k in piece):
                labels.update(dict.fromkeys(piece, allowed[0]))
                joined_pinned += sum(m not in pinned for k in piece for m in nodes[k].members)
            else:
                free.append((piece, allowed))

    place_free_components(free, labels, nodes, splits, ratios, salt)
    assignment = {member: labels[key] for key in sorted(labels) for member in nodes[key].members}
    report = partition_report(assignment, removed, entities, components, nodes, pinned, never_train,
                              splits, ratios, cuts, joined_pinned)
    return PartitionResult(assignment, removed, report)


# ---------------------------------------------------------------- inputs


def split_order(ratios: Mapping[str, float]) -> list[str]:
    """Train first (it takes what fits nowhere else), then the others by size, then name."""
    if TRAIN not in ratios:
        raise ValueError(f"ratios must name {TRAIN!r}, got {sorted(ratios)}")
    if any(r < 0 for r in ratios.values()) or abs(sum(ratios.values()) - 1.0) > 1e-9:
        raise ValueError(f"ratios must be non-negative and sum to 1, got {dict(ratios)}")
    return [TRAIN, *sorted((s for s in ratios if s != TRAIN), key=lambda s: (-ratios[s], s))]


def check_weights(entities: Mapping[str, float]) -> None:
    if not entities:
        raise ValueError("no entities to partition")
    bad = [entity for entity, weight in entities.items() if not weight > 0]
    if bad:
        raise ValueError(f"entity weights must be positive; not so for {sorted(bad)[:5]}")


def build_nodes(entities, together, pinned, never_train, splits, removed) -> dict[str, Node]:
    """One node per `together` group. A group's members pinned to different splits
    (a leak of the previous release) keep the split most of their weight was
    pinned to, and the others are removed; never-train members win over
    pinned-to-train ones, since they may not be in train at all."""
    groups = UnionFind()
    for group in together:
        group = list(group)
        unknown = [entity for entity in group if entity not in entities]
        if unknown:
            raise ValueError(f"together group {sorted(group)} names unknown entities {sorted(unknown)}")
        for entity in group[1:]:
            groups.union(group[0], entity)
    members_of: dict[str, list[str]] = {}
    for entity in sorted(entities):
        members_of.setdefault(groups.find(entity), []).append(entity)

    nodes = {}
    for members in members_of.values():
        node_never_train = any(m in never_train for m in members)
        pin = group_pin(members, entities, pinned, splits, node_never_train)
        for member in members:
            if member in pinned and pinned[member] != pin:
                removed[member] = PINNED_CONFLICT
        kept = tuple(m for m in members if m not in removed)
        if kept:
            nodes[kept[0]] = Node(kept[0], kept, sum(entities[m] for m in kept), pin, node_never_train)
    return nodes


def group_pin(members, entities, pinned, splits, never_train: bool) -> str | None:
    pinned_weight = Counter()
    for member in members:
        if member in pinned and not (never_train and pinned[member] == TRAIN):
            pinned_weight[pinned[member]] += entities[member]
    if not pinned_weight:
        return None
    return max(pinned_weight, key=lambda split: (pinned_weight[split], -splits.index(split)))


def node_adjacency(homology, node_of, entities) -> dict[str, set[str]]:
    adjacency: dict[str, set[str]] = {key: set() for key in set(node_of.values())}
    for a, b, *_ in homology:
        for entity in (a, b):
            if entity not in entities:
                raise ValueError(f"homology edge ({a}, {b}) names unknown entity {entity!r}")
        if a in node_of and b in node_of and node_of[a] != node_of[b]:  # an entity removed above has no edges
            adjacency[node_of[a]].add(node_of[b])
            adjacency[node_of[b]].add(node_of[a])
    return adjacency


def connected_components(keys: list[str], adjacency: dict[str, set[str]]) -> list[list[str]]:
    """Components as sorted key lists, found from sorted keys: order-independent."""
    seen: set[str] = set()
    components = []
    for start in keys:
        if start in seen:
            continue
        seen.add(start)
        component, queue = [], deque([start])
        while queue:
            key = queue.popleft()
            component.append(key)
            for neighbour in adjacency[key]:
                if neighbour not in seen:
                    seen.add(neighbour)
                    queue.append(neighbour)
        components.append(sorted(component))
    return components


def component_weight(keys: Iterable[str], nodes: dict[str, Node]) -> float:
    return sum(nodes[k].weight for k in keys)


# ---------------------------------------------------------------- constraint conflicts


def allowed_splits(keys, nodes, splits) -> list[str]:
    return [s for s in splits if all(nodes[k].allows(s) for k in keys)]


def separate_disagreeing_constraints(component, adjacency, nodes, splits, removed) -> list[list[str]]:
    """Remove the fewest entities so that no piece of the component holds
    constraints that disagree; return the pieces."""
    cut = constraint_cut(component, adjacency, nodes, splits)
    drop_nodes(sorted(cut), adjacency, nodes, removed)
    return connected_components([k for k in component if k not in cut], adjacency)


def constraint_cut(component, adjacency, nodes, splits) -> set[str]:
    """Nodes whose removal leaves no path between disagreeing constraints.

    Pinned splits are separated one at a time, in some order, each by an exact
    minimum cut from the splits after it. With two splits pinned (the usual
    conflict) the result is an exact minimum; with three, every order is tried
    (in components of up to ORDERS_TRIED_UP_TO nodes) and the cheapest kept,
    which need not be optimal (multiway cut is NP-hard).
    """
    present = [s for s in splits if any(nodes[k].pin == s for k in component)]
    try_orders = len(present) > 2 and len(component) <= ORDERS_TRIED_UP_TO
    orders = itertools.permutations(present) if try_orders else [present]
    cuts = [ordered_cut(component, adjacency, nodes, list(order)) for order in orders]
    return min(cuts, key=lambda cut: sum(len(nodes[k].members) for k in cut))  # first of equal cost: stable


def ordered_cut(component, adjacency, nodes, order: list[str]) -> set[str]:
    """Cut each split's pinned nodes from the later splits' (and train's from never-train nodes)."""
    cut: set[str] = set()
    for i, split in enumerate(order):
        later = order[i + 1:]
        remaining = [k for k in component if k not in cut]
        sources = [k for k in remaining if nodes[k].pin == split]
        sinks = [k for k in remaining if nodes[k].pin in later
                 or (split == TRAIN and nodes[k].pin is None and nodes[k].never_train)]
        if sources and sinks:
            cut.update(min_vertex_cut(remaining, adjacency, nodes, sources, sinks))
    return cut


def min_vertex_cut(keys, adjacency, nodes, sources, sinks) -> list[str]:
    """The cheapest nodes whose removal leaves no path from `sources` to `sinks`.

    Max-flow/min-cut (Edmonds-Karp) where each node is an in->out arc of capacity
    its entity count, scaled so that at equal count an unpinned node is cut
    before a pinned one; sources and sinks may be cut themselves. Of several
    minimum cuts, the one nearest the sources.
    """
    index = {key: i for i, key in enumerate(keys)}
    n = len(keys)
    source, sink = 2 * n, 2 * n + 1
    node_capacity = [len(nodes[k].members) * (n + 1) + (nodes[k].pin is not None) for k in keys]
    infinite = sum(node_capacity) + 1
    residual: list[dict[int, int]] = [{} for _ in range(2 * n + 2)]

    def arc(u: int, v: int, capacity: int) -> None:
        residual[u][v] = residual[u].get(v, 0) + capacity
        residual[v].setdefault(u, 0)

    for i, key in enumerate(keys):
        arc(2 * i, 2 * i + 1, node_capacity[i])
        for neighbour in sorted(adjacency[key]):
            if neighbour in index:
                arc(2 * i + 1, 2 * index[neighbour], infinite)
    for key in sources:
        arc(source, 2 * index[key], infinite)
    for key in sinks:
        arc(2 * index[key] + 1, sink, infinite)

    while (parent := augmenting_path(residual, source, sink)) is not None:
        path, v = [], sink
        while v != source:
            path.append((parent[v], v))
            v = parent[v]
        flow = min(residual[u][v] for u, v in path)
        for u, v in path:
            residual[u][v] -= flow
            residual[v][u] += flow
    reachable = reachable_from(residual, source)
    return [key for i, key in enumerate(keys) if 2 * i in reachable and 2 * i + 1 not in reachable]


def augmenting_path(residual, source: int, sink: int) -> dict[int, int] | None:
    """Breadth-first parents of a shortest path with spare capacity, or None."""
    parent = {source: source}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v, capacity in residual[u].items():
            if capacity > 0 and v not in parent:
                parent[v] = u
                if v == sink:
                    return parent
                queue.append(v)
    return None


def reachable_from(residual, source: int) -> set[int]:
    seen, stack = {source}, [source]
    while stack:
        u = stack.pop()
        for v, capacity in residual[u].items():
            if capacity > 0 and v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


def drop_nodes(keys, adjacency, nodes, removed) -> None:
    for key in keys:
        for neighbour in adjacency.pop(key):
            adjacency[neighbour].discard(key)
        for member in nodes[key].members:
            removed[member] = HOMOLOGY_CONFLICT


# ---------------------------------------------------------------- carving a component too large for one split


def carve(piece, adjacency, nodes, splits, ratios, salt, removed) -> dict[str, str]:
    """Label the piece's nodes by region, then remove nodes until no edge joins two regions."""
    labels = carve_labels(piece, adjacency, nodes, splits, ratios, salt)
    gone = remove_crossing_nodes(piece, adjacency, labels, nodes, salt)
    drop_nodes(gone, adjacency, nodes, removed)
    return {key: split for key, split in labels.items() if key not in gone}


def carve_labels(component, adjacency, nodes, splits, ratios, salt) -> dict[str, str]:
    """A component too heavy for one split is carved by its own ratios: each
    non-train split grows a breadth-first region from its pinned nodes, else from
    a node far from the regions carved so far; the rest is train. Growing compact
    regions keeps the boundary, i.e. the nodes to remove, small."""
    labels = {k: nodes[k].pin for k in component if nodes[k].pin is not None}
    total = component_weight(component, nodes)
    for split in splits[1:]:
        sources = [k for k in component if labels.get(k) == split]
        if not sources:
            start = far_unlabelled_node(component, adjacency, labels, salt)
            if start is None:
                break
            labels[start] = split
            sources = [start]
        grow_region(sources, split, ratios[split] * total, adjacency, labels, nodes)
    held_out = splits[1] if len(splits) > 1 else TRAIN
    for key in component:
        if key not in labels:
            labels[key] = TRAIN if nodes[key].allows(TRAIN) else held_out
    return labels


def far_unlabelled_node(component, adjacency, labels, salt) -> str | None:
    """The unlabelled node reached last breadth-first from the labelled nodes (or,
    with none, from the unlabelled node of smallest salted hash): a peripheral one."""
    unlabelled = [k for k in component if k not in labels]
    if not unlabelled:
        return None
    sources = sorted(labels) or [min(unlabelled, key=lambda k: (unit_interval_hash(k, salt), k))]
    seen, queue, last = set(sources), deque(sources), None
    while queue:
        key = queue.popleft()
        if key not in labels:
            last = key
        for neighbour in sorted(adjacency[key]):
            if neighbour not in seen:
                seen.add(neighbour)
                queue.append(neighbour)
    return last


def grow_region(sources, split, budget, adjacency, labels, nodes) -> None:
    weight = component_weight(sources, nodes)
    queue = deque(sources)
    while queue and weight < budget:
        key = queue.popleft()
        for neighbour in sorted(adjacency[key]):
            if weight >= budget:
                break
            if neighbour not in labels and nodes[neighbour].allows(split):
                labels[neighbour] = split
                weight += nodes[neighbour].weight
                queue.append(neighbour)


def remove_crossing_nodes(component, adjacency, labels, nodes, salt) -> dict[str, None]:
    """Greedy, as GraphPart: repeatedly remove the node with the most neighbours in
    other splits (ties: unpinned before pinned, smaller groups, then salted hash)
    until no edge crosses. Counts only fall as nodes go, so a heap with stale
    entries skipped is exact."""
    crossing = {k: sum(labels[n] != labels[k] for n in adjacency[k]) for k in component}

    def entry(key: str) -> tuple:
        node = nodes[key]
        return -crossing[key], node.pin is not None, len(node.members), unit_interval_hash(key, salt), key

    heap = [entry(k) for k in component if crossing[k]]
    heapq.heapify(heap)
    gone: dict[str, None] = {}  # insertion-ordered set
    while heap:
        negative_count, *_, key = heapq.heappop(heap)
        if key in gone or -negative_count != crossing[key] or not crossing[key]:
            continue  # stale: the node went, or its count fell since this entry
        gone[key] = None
        for neighbour in adjacency[key]:
            if labels[neighbour] != labels[key] and neighbour not in gone:
                crossing[neighbour] -= 1
                if crossing[neighbour]:
                    heapq.heappush(heap, entry(neighbour))
        crossing[key] = 0
    return gone


# ---------------------------------------------------------------- placing whole components


def place_free_components(free, labels, nodes, splits, ratios, salt) -> None:
    """Largest first, each component to the split furthest below its target (by
    weight). A component heavier than a split's whole target never goes there but
    to train, unless it may not be in train."""
    assigned = Counter()
    for key, split in labels.items():
        assigned[split] += nodes[key].weight
    free_weights = [component_weight(component, nodes) for component, _ in free]
    total = sum(assigned.values()) + sum(free_weights)
    target = {s: ratios[s] * total for s in splits}
    deficit = {s: target[s] - assigned[s] for s in splits}

    order = sorted(range(len(free)), key=lambda i: (-free_weights[i], unit_interval_hash(free[i][0][0], salt),
                                                    free[i][0][0]))
    for i in order:
        component, allowed = free[i]
        split = choose_split(free_weights[i], allowed, target, deficit, splits)
        labels.update(dict.fromkeys(component, split))
        deficit[split] -= free_weights[i]


def choose_split(weight, allowed, target, deficit, splits) -> str:
    within_budget = [s for s in allowed if s == TRAIN or weight <= target[s]] or allowed
    return max(within_budget, key=lambda s: (deficit[s], -splits.index(s)))


# ---------------------------------------------------------------- report


def partition_report(assignment, removed, entities, components, nodes, pinned, never_train,
                     splits, ratios, cuts, joined_pinned) -> dict:
    kept_weight = sum(entities[e] for e in assignment)
    per_split = {}
    for split in splits:
        members = [e for e, s in assignment.items() if s == split]
        weight = sum(entities[e] for e in members)
        share = weight / kept_weight if kept_weight else 0.0
        per_split[split] = {"entities": len(members), "weight": weight, "share": share, "target": ratios[split],
                            "deviation_points": 100 * (share - ratios[split])}
    largest = max(components, key=lambda c: (component_weight(c, nodes), len(c)))
    total_weight = sum(entities.values())
    return {
        "entities": len(entities),
        "weight": total_weight,
        "components": len(components),
        "largest_component": {"entities": sum(len(nodes[k].members) for k in largest),
                              "weight": component_weight(largest, nodes),
                              "share": component_weight(largest, nodes) / total_weight},
        "components_cut": dict(cuts),
        "splits": per_split,
        "ratios_within_tolerance": all(abs(v["deviation_points"]) <= RATIO_TOLERANCE_POINTS
                                       for v in per_split.values()),
        "tolerance_points": RATIO_TOLERANCE_POINTS,
        "removed": {"total": len(removed), **Counter(removed.values())},
        "pinned": {"entities": len(pinned),
                   "kept_split": sum(1 for e, s in pinned.items() if assignment.get(e) == s),
                   "joined_pinned_split": joined_pinned},
        "never_train": {"entities": len(never_train),
                        "in_train": sum(1 for e in never_train if assignment.get(e) == TRAIN)},
    }
