"""Optuna's side of scripts/fashion.fsx --compare: what a user would otherwise pick, on the same problem.

  /usr/bin/python3 scripts/fashion_optuna.py --rows runs/fashion-optuna/rows.txt --trials 12 --max-epochs 20 \
      --threads 2 --out runs/fashion-optuna/result-12x20.txt
  /usr/bin/python3 scripts/fashion_optuna.py --smoke     (a few hundred rows, 2 trials of 2 epochs: checks it runs)

The same network as Hybrid's (784-M-L-10: z1 = tanh(x·W1ᵀ + b1); z2 = ReLU(z1·W2ᵀ + b2) + skip(x);
softmax cross-entropy; Glorot-uniform W1, He-normal W2 and W3, zero biases, the skip starting as the
identity), the same space (widths, skip, optimizer, learning rate, weight decay, batch size), the same
rows (the training and validation rows Hybrid's Split.rows writes to --rows; t10k as the test part), the
same preprocessing (each pixel standardized on the training rows, a constant pixel scaled by 1), the
same epoch budget per trial and learning-rate schedule (--schedule: constant, or Hybrid's cosine, from the
base rate at the first step to 0 at the last), and Hybrid's rule for what a trial keeps (--keep: the
weights of its epoch of lowest validation loss, or of highest validation accuracy). Optuna: TPE sampler (seed 0) with the Hyperband pruner on validation accuracy
after each epoch. Writes one line `trials=… validation=… test=… epochs=… seconds=… pruned=…` to --out:
the best trial's validation accuracy and its test accuracy, and the epochs trained by all trials.
"""
import argparse
import copy
import gzip
import os
import struct
import time

from bench_torch import require_fast_blas

FASHION = "/usr/share/datasets/fashion-mnist"
INSTALL = "install them with: sudo apt-get install python3-optuna python3-torch libopenblas0-pthread dataset-fashion-mnist"


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", help="Hybrid's split: a line 'train i,j,…' and a line 'validation i,j,…'")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--keep", choices=["loss", "accuracy"], default="loss")
    p.add_argument("--out")
    p.add_argument("--smoke", action="store_true")
    return p.parse_args()


def idx(name):
    """The array in one of Fashion-MNIST's gzip IDX files (unsigned bytes)."""
    import numpy as np
    with gzip.open(os.path.join(FASHION, name)) as f:
        content = f.read()
    dims = struct.unpack(">" + "i" * content[3], content[4:4 + 4 * content[3]])
    return np.frombuffer(content, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def read_rows(path):
    parts = {}
    with open(path) as f:
        for line in f:
            name, rows = line.split()
            parts[name] = [int(r) for r in rows.split(",")]
    return parts["train"], parts["validation"]


def data(args):
    """(train, validation, test) as float32 tensors standardized on the training rows, with labels."""
    import numpy as np
    import torch
    images = idx("train-images-idx3-ubyte.gz").reshape(60000, 784).astype(np.float64)
    labels = idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    test_x = idx("t10k-images-idx3-ubyte.gz").reshape(10000, 784).astype(np.float64)
    test_y = idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if args.smoke:
        train_rows, validation_rows, test_x, test_y = list(range(600)), list(range(600, 800)), test_x[:200], test_y[:200]
    else:
        train_rows, validation_rows = read_rows(args.rows)
    mean = images[train_rows].mean(axis=0)
    scale = images[train_rows].std(axis=0)
    scale[scale == 0] = 1.0

    def part(x, y):
        return torch.from_numpy(((x - mean) / scale).astype(np.float32)), torch.from_numpy(y)

    return part(images[train_rows], labels[train_rows]), part(images[validation_rows], labels[validation_rows]), part(test_x, test_y)


def network(m, l, skip, d=784, p=10):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(d, m)
            self.fc2 = torch.nn.Linear(m, l)
            self.fc3 = torch.nn.Linear(l, p)
            width = min(l, d)
            if skip == "Dense":
                self.ws = torch.nn.Parameter(torch.eye(l, d))
            elif skip == "Diagonal":
                self.ws = torch.nn.Parameter(torch.ones(width))
            torch.nn.init.xavier_uniform_(self.fc1.weight)
            torch.nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")
            torch.nn.init.kaiming_normal_(self.fc3.weight, nonlinearity="relu")
            for b in (self.fc1.bias, self.fc2.bias, self.fc3.bias):
                torch.nn.init.zeros_(b)

        def forward(self, x):
            z2 = torch.relu(self.fc2(torch.tanh(self.fc1(x))))
            if skip == "Dense":
                z2 = z2 + x @ self.ws.t()
            elif skip == "Diagonal":
                width = self.ws.shape[0]
                z2 = torch.cat([z2[:, :width] + self.ws * x[:, :width], z2[:, width:]], dim=1)
            return self.fc3(z2)

    return Net()


def optimizer(net, kind, lr, decay):
    """Weight decay on weights only, never biases, as in Hybrid: coupled L2 for SGD and Adam, decoupled for AdamW."""
    import torch
    weights = [p for n, p in net.named_parameters() if not n.endswith("bias")]
    biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
    groups = [{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}]
    if kind == "Adam":
        return torch.optim.Adam(groups, lr=lr)
    if kind == "AdamW":
        return torch.optim.AdamW(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def evaluate(net, part):
    import torch
    import torch.nn.functional as F
    x, y = part
    with torch.no_grad():
        logits = net(x)
        return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()


def cosine(steps):
    """Hybrid's cosine factor at each 0-based step of `steps`: 1 at the first, 0 at the last."""
    import math
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / (steps - 1)))) if steps > 1 else 1.0


def better(keep, loss, accuracy, kept):
    """Whether this epoch replaces the kept one (the first of equals stays), under Hybrid's keep rule."""
    if kept is None:
        return True
    return accuracy > kept[1] if keep == "accuracy" else loss < kept[0]


def objective_for(train, validation, test, args, spent):
    import optuna
    import torch
    import torch.nn.functional as F

    def objective(trial):
        m = trial.suggest_categorical("M", [128, 256, 512])
        l = trial.suggest_categorical("L", [64, 128, 256])
        skip = trial.suggest_categorical("skip", ["Dense", "Diagonal", "None"])
        kind = trial.suggest_categorical("optimizer", ["Adam", "AdamW", "Sgd"])
        lr = trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True)
        decay = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
        batch = trial.suggest_categorical("batch_size", [64, 128, 256])
        torch.manual_seed(trial.number)
        net = network(m, l, skip)
        opt = optimizer(net, kind, lr, decay)
        x, y = train
        steps = -(-x.shape[0] // batch) * args.max_epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, cosine(steps) if args.schedule == "cosine" else lambda _: 1.0)
        kept = None
        for epoch in range(args.max_epochs):
            order = torch.randperm(x.shape[0])
            for start in range(0, x.shape[0], batch):
                rows = order[start:start + batch]
                opt.zero_grad()
                F.cross_entropy(net(x[rows]), y[rows]).backward()
                opt.step()
                schedule.step()
            spent[0] += 1
            loss, accuracy = evaluate(net, validation)
            if better(args.keep, loss, accuracy, kept):
                kept = (loss, accuracy, copy.deepcopy(net.state_dict()))
            trial.report(kept[1], epoch + 1)
            if trial.should_prune():
                raise optuna.TrialPruned()
        net.load_state_dict(kept[2])
        trial.set_user_attr("test", evaluate(net, test)[1])
        return kept[1]

    return objective


def main():
    args = parse()
    try:
        import optuna
        import torch
    except ImportError as e:
        raise SystemExit(f"{e}: {INSTALL}")
    torch.set_num_threads(args.threads)
    require_fast_blas()
    if args.smoke:
        args.trials, args.max_epochs = 2, 2
    train, validation, test = data(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.HyperbandPruner(min_resource=2, max_resource=args.max_epochs, reduction_factor=3))
    spent = [0]
    watch = time.perf_counter()
    study.optimize(objective_for(train, validation, test, args, spent), n_trials=args.trials)
    seconds = time.perf_counter() - watch
    best = study.best_trial
    pruned = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    line = (f"trials={args.trials} validation={best.value:.6f} test={best.user_attrs['test']:.6f} "
            f"epochs={spent[0]} seconds={seconds:.1f} pruned={pruned}")
    print(line)
    print(f"best trial #{best.number}: {best.params}")
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
