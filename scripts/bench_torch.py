"""PyTorch's side of scripts/bench.fsx --compare: the same network, data and step as Hybrid's benchmark.

  python3 scripts/bench_torch.py --shape 784,256,128,10 --batch 128 --threads 2 --seconds 2 [--skip dense|none]
  python3 scripts/bench_torch.py --sgemm --threads 2 --seconds 1     (NumPy/OpenBLAS float32 matrix product peak)
  python3 scripts/bench_torch.py --epoch --threads 2      (a Fashion-MNIST-sized epoch with Adam, then evaluation)
  python3 scripts/bench_torch.py --versions

Network (as Hybrid defines it): z1 = tanh(x·W1ᵀ + b1); z2 = ReLU(z1·W2ᵀ + b2) + x·Wsᵀ (dense skip, no bias);
logits = z2·W3ᵀ + b3; mean cross-entropy; plain SGD; float32; shuffled mini-batches from a fixed random
data set of 32 batches. The thread count is set here with torch.set_num_threads; the caller sets
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and OMP_WAIT_POLICY=PASSIVE and unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE before the interpreter starts (OpenBLAS reads them when it loads).
Prints one machine-readable line.
"""
import argparse
import sys
import time

INSTALL = "install them with: sudo apt-get install python3-torch python3-numpy libopenblas0-pthread"
REFERENCE_BLAS = "/blas/libblas.so"


def blas_library():
    """The BLAS library this process has loaded (after a product): Debian picks it by alternatives."""
    import numpy
    numpy.ones((2, 2)) @ numpy.ones((2, 2))
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libblas" in line}
    return ", ".join(sorted(paths)) or "none found"


def require_fast_blas():
    """Refuses to measure PyTorch or NumPy on Debian's reference BLAS: it is 10× slower than OpenBLAS, so the
    comparison would flatter Hybrid."""
    library = blas_library()
    if REFERENCE_BLAS in library:
        print(f"PyTorch runs on the reference BLAS ({library}), not OpenBLAS; install libopenblas0-pthread",
              file=sys.stderr)
        sys.exit(3)


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="784,256,128,10")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=2.0, help="measured time, split between training and inference")
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--skip", choices=["dense", "none"], default="dense")
    p.add_argument("--sgemm", action="store_true")
    p.add_argument("--epoch", action="store_true")
    p.add_argument("--versions", action="store_true")
    return p.parse_args()


def timed(work, seconds):
    """Calls work() repeatedly for about `seconds`; returns calls per second."""
    start = time.perf_counter()
    calls = 0
    while True:
        work()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def sgemm(threads, seconds):
    import numpy as np
    n = 1536
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    timed(lambda: np.matmul(a, b, out=c), 0.3)
    rate = timed(lambda: np.matmul(a, b, out=c), seconds)
    print(f"sgemm_gflops={rate * 2.0 * n ** 3 / 1e9:.2f} threads={threads} n={n}")


def network(torch, d, m, l, p, dense_skip):
    """Hybrid's network: tanh, then ReLU plus the skip X·Wsᵀ (no bias), then the logits."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(d, m)
            self.fc2 = torch.nn.Linear(m, l)
            self.fc3 = torch.nn.Linear(l, p)
            self.skip = torch.nn.Linear(d, l, bias=False) if dense_skip else None

        def forward(self, x):
            z2 = torch.relu(self.fc2(torch.tanh(self.fc1(x))))
            if self.skip is not None:
                z2 = z2 + self.skip(x)
            return self.fc3(z2)

    return Net()


def epoch(args):
    """One Fashion-MNIST-sized epoch as Hybrid's Trainer runs it: 54,000 shuffled training rows in
    mini-batches with Adam, then loss and accuracy on 6,000 validation rows, then on 10,000 test
    rows, evaluated in batches of the same size. Random data of that shape: speed does not depend on
    the values. Prints the seconds taken, data generation excluded."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    d, m, l, p = (int(v) for v in args.shape.split(","))
    parts = {name: (torch.randn(rows, d), torch.randint(0, p, (rows,)))
             for name, rows in [("train", 54000), ("validation", 6000), ("test", 10000)]}
    net = network(torch, d, m, l, p, args.skip == "dense")
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)

    def evaluate(x_all, y_all):
        loss, correct = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(y_all), args.batch):
                x, y = x_all[start:start + args.batch], y_all[start:start + args.batch]
                probabilities = torch.softmax(net(x), dim=1)
                loss += F.nll_loss(torch.log(probabilities), y, reduction="sum").item()
                correct += (probabilities.argmax(dim=1) == y).sum().item()
        return loss / len(y_all), correct / len(y_all)

    start = time.perf_counter()
    x_all, y_all = parts["train"]
    order = torch.randperm(len(y_all))
    for first in range(0, len(y_all), args.batch):
        index = order[first:first + args.batch]
        adam.zero_grad(set_to_none=True)
        F.cross_entropy(net(x_all.index_select(0, index)), y_all.index_select(0, index)).backward()
        adam.step()
    evaluate(*parts["validation"])
    evaluate(*parts["test"])
    print(f"epoch_seconds={time.perf_counter() - start:.3f} threads={torch.get_num_threads()}")


def train(args):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    d, m, l, p = (int(v) for v in args.shape.split(","))
    rows = args.batch * 32
    x_all = torch.randn(rows, d)
    y_all = torch.randint(0, p, (rows,))

    net = network(torch, d, m, l, p, args.skip == "dense")
    sgd = torch.optim.SGD(net.parameters(), lr=1e-3)
    per_epoch = rows // args.batch
    state = {"order": torch.randperm(rows), "i": 0}

    def step():
        if state["i"] == per_epoch:
            state["order"], state["i"] = torch.randperm(rows), 0
        index = state["order"][state["i"] * args.batch:(state["i"] + 1) * args.batch]
        state["i"] += 1
        x, y = x_all.index_select(0, index), y_all.index_select(0, index)
        sgd.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        sgd.step()

    batches = [x_all[i * args.batch:(i + 1) * args.batch] for i in range(per_epoch)]
    counter = {"i": 0}

    def infer():
        counter["i"] = (counter["i"] + 1) % per_epoch
        torch.softmax(net(batches[counter["i"]]), dim=1)

    timed(step, args.warmup)
    train_rate = timed(step, args.seconds / 2) * args.batch
    with torch.no_grad():
        timed(infer, min(args.warmup, 0.2))
        infer_rate = timed(infer, args.seconds / 2) * args.batch
    print(f"train_samples_per_s={train_rate:.0f} infer_samples_per_s={infer_rate:.0f} threads={torch.get_num_threads()}")


def main():
    args = parse()
    try:
        import numpy
        if not args.sgemm:
            import torch
    except ImportError as e:
        print(f"bench_torch.py: {e.name} is missing for {sys.executable}; {INSTALL}", file=sys.stderr)
        sys.exit(3)
    require_fast_blas()
    if args.versions:
        import torch
        print(f"torch={torch.__version__} numpy={numpy.__version__} python={sys.version.split()[0]} "
              f"blas={blas_library()}")
        return
    if args.sgemm:
        sgemm(args.threads, args.seconds)
    elif args.epoch:
        epoch(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
