"""A new user's first scored model: NB-201 as PyG graphs, a small GIN, the Evaluator.

The same code as the README's "A PyG model in a few lines" (the README test runs the README's
copy); ``benchmarks/bench_new_user.py`` times it from an empty CGBENCH_HOME.
Run: ``CGBENCH_MIRROR=../shared/data .venv/bin/python docs/first_model.py``
"""

import torch
import torch.nn.functional as F
from torch_geometric.nn import GINConv, global_mean_pool

from cgbench import Evaluator, load_family

torch.manual_seed(0)
nb201 = load_family("nb201")                      # builds on first use (about a minute), then loads in seconds
dataset = nb201.to_pyg()                          # y = c10_valid_acc_200ep, in dataset.target_unit (%)
evaluator = Evaluator(nb201, split="random", part="test")
train = dataset.collated(nb201.get_idx_split("random")["train"][:4000])  # fast batcher, y included
test = dataset.collated(evaluator.indices)        # the rows the evaluator scores, in its order


class GIN(torch.nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.op = torch.nn.Embedding(len(dataset.op_names), hidden)
        self.x = torch.nn.Linear(len(dataset.feature_names), hidden)
        mlp = lambda: torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden))  # noqa: E731
        self.convs = torch.nn.ModuleList(GINConv(mlp()) for _ in range(3))
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, batch):
        h = self.op(batch.op) + self.x(batch.x)
        for conv in self.convs:
            h = F.relu(conv(h, batch.edge_index))
        return self.head(global_mean_pool(h, batch.batch)).squeeze(-1)


model = GIN()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
mean, std = train.y.mean(), train.y.std()
for epoch in range(6):
    for rows in torch.randperm(len(train)).split(128):
        batch = train.batch(rows)
        loss = F.mse_loss(model(batch), (batch.y - mean) / std)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

model.eval()
with torch.no_grad():
    scores = torch.cat([model(test.batch(rows)) for rows in torch.arange(len(test)).split(2048)])
print(evaluator.eval(scores.numpy()))             # spearman, kendall, ... on the test part
