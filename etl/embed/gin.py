"""The GraphMVP GIN (5 layers, 300 dimensions) in plain PyTorch, and its encoder.

Parameter names follow GraphMVP's `GNN` module (x_embedding1/2, gnns.i.mlp, gnns.i.edge_embedding1/2,
batch_norms.i), so a GraphMVP checkpoint's state dict loads as is. Message passing, which GraphMVP
does with torch-geometric, is a gather of source nodes plus an index_add into target nodes.
"""

from __future__ import annotations

import torch
from torch import nn

from etl.embed.encoder import RANDOM, Chunk, EmbedError, Encoder, EncoderSpec, load_checkpoint, random_init
from etl.embed.featurize import mol_graph
from etl.normalize.gin_vocabulary import BOND_DIRECTION_ROWS, CHIRALITY_ROWS, SELF_LOOP_BOND_TYPE

# Embedding table sizes of GraphMVP's checkpoints; the chirality and direction tables hold the vocabulary's rows, no more.
ATOM_TYPES = 120  # 118 elements plus GraphMVP's mask and spare rows
CHIRALITY_TAGS = len(CHIRALITY_ROWS)
BOND_TYPES = 6  # single, double, triple, aromatic, self-loop, mask
BOND_DIRECTIONS = len(BOND_DIRECTION_ROWS)
# Prefixes GraphMVP and BioMedGPT's code put before the GNN's own parameter names in saved checkpoints.
CHECKPOINT_PREFIXES = ("module.", "molecule_model.", "model.", "gnn.", "graph_encoder.")


class GinLayer(nn.Module):
    """GIN convolution with bond embeddings: h_i' = MLP(sum over edges j->i, self-loop included, of h_j + e_ji)."""

    def __init__(self, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
        self.edge_embedding1 = nn.Embedding(BOND_TYPES, dim)
        self.edge_embedding2 = nn.Embedding(BOND_DIRECTIONS, dim)

    def forward(self, x, edges, bonds):
        messages = x[edges[0]] + self.edge_embedding1(bonds[:, 0]) + self.edge_embedding2(bonds[:, 1])
        summed = torch.zeros_like(x).index_add_(0, edges[1], messages.to(x.dtype))
        return self.mlp(summed)


class GraphMvpGin(nn.Module):
    """GraphMVP's 2D molecule encoder: atom embeddings, `layers` GIN layers with batch norm, last-layer output."""

    def __init__(self, layers: int, dim: int):
        super().__init__()
        self.x_embedding1 = nn.Embedding(ATOM_TYPES, dim)
        self.x_embedding2 = nn.Embedding(CHIRALITY_TAGS, dim)
        self.gnns = nn.ModuleList(GinLayer(dim) for _ in range(layers))
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(dim) for _ in range(layers))

    def forward(self, atoms, edges, bonds, layer: int):
        """Node vectors after `layer` GIN layers; edges and bonds must already hold the self-loops."""
        h = self.x_embedding1(atoms[:, 0]) + self.x_embedding2(atoms[:, 1])
        for index in range(layer):
            h = self.batch_norms[index](self.gnns[index](h, edges, bonds))
            if index < len(self.gnns) - 1:  # GraphMVP has no ReLU after its last layer
                h = torch.relu(h)
        return h


class GinEncoder(Encoder):
    """One vector per heavy atom from the GraphMVP GIN; a batch is the disjoint union of its molecules' graphs."""

    padded = False

    def __init__(self, spec: EncoderSpec, device: torch.device):
        self.spec, self.device = spec, device
        if spec.weights == RANDOM:
            model = random_init(lambda: GraphMvpGin(spec.num_layers, spec.dim))
        else:
            model = GraphMvpGin(spec.num_layers, spec.dim)
            model.load_state_dict(load_graphmvp_state_dict(spec.weights))
        self.model = model.eval().to(device)

    def featurize(self, key: str, text: str) -> list[Chunk]:
        graph = mol_graph(text)
        return [Chunk(key, graph, graph.num_atoms, graph.num_atoms, (0, graph.num_atoms))]

    def forward(self, chunks: list[Chunk]) -> list[torch.Tensor]:
        atoms, edges, bonds = _union(chunks)
        nodes = self.model(atoms.to(self.device), edges.to(self.device), bonds.to(self.device), self.spec.layer)
        return list(nodes.split([c.n_out for c in chunks]))


def _union(chunks: list[Chunk]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One graph of all molecules, node ids offset per molecule, with a self-loop on every atom."""
    atoms, edges, bonds, offset = [], [], [], 0
    for chunk in chunks:
        graph = chunk.inputs
        atoms.append(torch.from_numpy(graph.atoms))
        edges.append(torch.from_numpy(graph.edges) + offset)
        bonds.append(torch.from_numpy(graph.bonds))
        offset += graph.num_atoms
    nodes = torch.arange(offset)
    edges.append(torch.stack((nodes, nodes)))
    bonds.append(torch.stack((torch.full_like(nodes, SELF_LOOP_BOND_TYPE), torch.zeros_like(nodes)), dim=1))
    return torch.cat(atoms), torch.cat(edges, dim=1), torch.cat(bonds)


def load_graphmvp_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A GraphMVP checkpoint's GNN parameters: a bare state dict or one under "model"/"state_dict", prefixes removed."""
    data = load_checkpoint(path)  # tensors and containers only: GraphMVP saves bare state dicts
    for wrapper in ("model", "state_dict", "molecule_model"):
        if isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    state = {}
    for name, value in data.items():
        for prefix in CHECKPOINT_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
        state[name] = value
    if "x_embedding1.weight" not in state:
        raise EmbedError(f"{path} does not hold a GraphMVP GIN (no x_embedding1 / gnns.* parameters)", setting="weights")
    return state
