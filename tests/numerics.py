"""Tolerances for tests that compare two code paths in float32, derived from the arithmetic rather than from one machine's output.

Two paths that compute the same graph up to the order of float32 sums (a batched versus a per-view convolution, another
thread count, another CPU's kernels: AVX-512, AVX2 or ATen's default) differ only by rounding. A sum of n float32 terms
carries an error of at most gamma_n = n U / (1 - n U) times the sum of the terms' sizes, and about sqrt(n) U when the
rounding errors are independent (a random walk); a reorder changes which errors occur, so two orders differ by as much.
One stylization step chains about L = 40 such reductions (tri-plane convolutions of 32 x 3 x 3 = 288 terms, volume
compositing over 12-48 samples, the VAE's and UNet's convolutions and attention over 256 tokens, their backward passes),
so its gradient's relative error in norm is about sqrt(L) * sqrt(288) U = 110 U typically, and at worst L * 288 U = 11,520 U.
A fault (a missed view, another random draw, a detached term) moves a result by O(1) of its size.

The tolerances below sit between the typical estimate and the fault, and were checked against what the two paths give on
1 and 2 threads (HEADSTYLE_TEST_THREADS) and with ATen's and oneDNN's kernels capped at an older ISA
(ATEN_CPU_CAPABILITY=default, ONEDNN_MAX_CPU_ISA=AVX2): `make test-isa` runs the suite that way."""
import math
import torch

U = 2.0 ** -24                   # float32 unit roundoff (half the machine epsilon)

# One stylization step's gradient, norm-wise against the whole gradient's norm (a tensor whose own gradient is a small
# difference of large terms would otherwise magnify the same absolute rounding): about 110 U expected (above), at most 2 U
# measured between the shared-planes and per-view paths over the settings above. 2**10 U (6e-5): ~10x the estimate, 1e4x
# below a fault. Faults too small for this (a view that carries 1e-5 of the update) have wiring tests of their own.
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

def assert_same_update(a, b, steps:int=2):
    "Stylizers `a` and `b` take `steps` steps from the same state: the same draws, loss terms and gradients up to float32 reordering."
    for _ in range(steps):
        _same_step(a, b)
        b.G.load_state_dict(a.G.state_dict()); b.opt.load_state_dict(a.opt.state_dict())   # the next step starts from one state

def _same_step(a, b):
    (ra, ga, sa), (rb, gb, sb) = one_step(a), one_step(b)
    assert torch.equal(sa, sb), 'the two paths drew different random numbers'
    assert set(ra) == set(rb) and set(ga) == set(gb), (sorted(ra), sorted(rb), sorted(ga), sorted(gb))
    bad = {k: (ra[k], rb[k]) for k in ra if k != 'skipped' and not math.isclose(ra[k], rb[k], rel_tol=LOSS_RTOL, abs_tol=0)}
    assert not bad, f'losses differ beyond float32 reordering: {bad}'
    scale = max(torch.cat([g.double().flatten() for g in ga.values()]).norm().item(), 1e-300)
    bad = {k: d for k in ga if (d := (ga[k].double() - gb[k].double()).norm().item() / scale) > GRAD_RTOL}
    assert not bad, f"gradients differ beyond float32 reordering (norm of the difference over the whole gradient's): {bad}"
    assert rel_norm_diff(torch.cat([g.flatten() for g in ga.values()]), torch.cat([gb[k].flatten() for k in ga])) <= GRAD_RTOL
    assert any(g.abs().sum() > 0 for g in ga.values()), 'no gradient at all: nothing was compared'
