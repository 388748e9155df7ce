"""Speed of `rank_weight` (batched, through the C x C Gram matrix) against the per-sample SVD loop, in one run.

    python benchmarks/rank_weight.py [--batch 8] [--size 64] [--threads 2] [--min-ratio 10]

Prints both timings (best of several rounds) and their ratio; exits with status 1 when the ratio is below --min-ratio
or the two results disagree.
"""
import argparse, sys, time
import torch
from headstyle.guidance import rank_weight, rank_weight_svd

def best_time(f, x, n, rounds):
    f(x)
    best = float('inf')
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n): f(x)
        best = min(best, (time.perf_counter() - t0) / n)
    return best

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--channels', type=int, default=4)
    p.add_argument('--size', type=int, default=64, help='latent side')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--n', type=int, default=10, help='calls per round')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--min-ratio', type=float, default=10.)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    x = torch.randn(a.batch, a.channels, a.size, a.size, generator=torch.Generator().manual_seed(0))
    w = torch.linspace(1, 0.25, a.channels).tolist()
    err = (rank_weight(x, w) - rank_weight_svd(x, w)).abs().max().item()
    t_svd = best_time(lambda x: rank_weight_svd(x, w), x, a.n, a.rounds)
    t_gram = best_time(lambda x: rank_weight(x, w), x, a.n, a.rounds)
    ratio = t_svd / t_gram
    print(f"rank_weight on ({a.batch}, {a.channels}, {a.size}, {a.size}), {a.threads} threads, torch {torch.__version__}")
    print(f"  per-sample SVD loop: {t_svd * 1e3:8.3f} ms")
    print(f"  Gram route:          {t_gram * 1e3:8.3f} ms")
    print(f"  speed ratio:         {ratio:8.1f}x   (target >= {a.min_ratio:g}x)")
    print(f"  max abs difference:  {err:.2e}")
    return 0 if ratio >= a.min_ratio and err < 1e-3 else 1

if __name__ == '__main__': sys.exit(main())
