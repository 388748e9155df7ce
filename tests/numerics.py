"""Tolerances for tests that compare two code paths in float32, derived from the arithmetic rather than from one machine's output.

Two paths that compute the same graph up to the order of float32 sums (a batched versus a per-view convolution, another
thread count, another CPU's kernels: AVX-512, AVX2 or ATen's default) differ by a few units of roundoff `U` per operation,
measured in norm. A fault (a missed view, another random draw, a detached term) moves a result by O(1) of its size.
The tolerances below sit between the two, with their margins stated next to them."""
import math
import torch

U = 2.0 ** -24                   # float32 unit roundoff (half the machine epsilon)

# One stylization step's gradient, per trainable tensor, norm-wise: measured at most 10 U between the shared-planes and
# per-view paths over 1 and 2 threads and the AVX-512 / AVX2 / default kernels. 2**10 U (6e-5) leaves a factor ~100.
GRAD_RTOL = 2 ** 10 * U
# Loss values: the SDS residual eps_hat - eps is a difference of two O(1) predictions about 100x smaller than either, so
# its square carries ~100x the relative rounding of its inputs (measured at most 3e-6 = 50 U). 2**14 U (1e-3) leaves ~20x.
LOSS_RTOL = 2 ** 14 * U

def rel_norm_diff(a:torch.Tensor, b:torch.Tensor)->float:
    "||a - b|| / max(||a||, ||b||) in float64 (0 when both are zero)."
    a, b = a.double(), b.double()
    n = max(a.norm().item(), b.norm().item())
    return 0.0 if n == 0 else (a - b).norm().item() / n

def one_step(st)->tuple:
    "One `Stylizer.step` with the gradients it applied: (losses, {name: grad}, state of the stylizer's RNG after it)."
    got, select = {}, st.select_grads
    def keep():
        select(); got.update({k: p.grad.detach().clone() for k, p in st.params.items() if p.grad is not None})
    st.select_grads = keep
    try: rec = st.step()
    finally: st.select_grads = select
    return rec, got, st.rng.get_state()

def assert_same_update(a, b):
    "Stylizers `a` and `b` take one step each: the same random draws, the same loss terms, and the same gradient up to float32 reordering."
    (ra, ga, sa), (rb, gb, sb) = one_step(a), one_step(b)
    assert torch.equal(sa, sb), 'the two paths drew different random numbers'
    assert set(ra) == set(rb) and set(ga) == set(gb), (sorted(ra), sorted(rb), sorted(ga), sorted(gb))
    bad = {k: (ra[k], rb[k]) for k in ra if k != 'skipped' and not math.isclose(ra[k], rb[k], rel_tol=LOSS_RTOL, abs_tol=0)}
    assert not bad, f'losses differ beyond float32 reordering: {bad}'
    bad = {k: d for k in ga if (d := rel_norm_diff(ga[k], gb[k])) > GRAD_RTOL}
    assert not bad, f'gradients differ beyond float32 reordering (relative norm): {bad}'
    assert any(g.abs().sum() > 0 for g in ga.values()), 'no gradient at all: nothing was compared'
