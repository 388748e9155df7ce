"""Seconds per stylization iteration of `headstyle stylize --method sds|full` on TinyHeads, as ratios to a fixed reference workload.

The reference is timed in the same rounds on the same number of threads: six 3x3 convolutions (3 -> 64, then five of
64 -> 64) with SiLU, forward and backward on a batch of 8 x 3 x 64 x 64. Its ratio is what carries across machines and
across a busy machine: variants alternate round by round, so that load slows them alike.

Each row adds one change to the row above it:
- 'before': the step as it was before these changes: the decoder MLP at every depth of every ray, with 3-D matmuls,
  and the generator's own 48 depths per ray (it already skips the frozen single view's unused super-resolution, an exact
  saving this benchmark does not separate);
- '+ decoder inside the box': the MLP runs only at the samples inside the box (outside it the density is 0, so those
  samples carry no weight and no gradient): the same update up to float32 reordering;
- '+ 32 depths per ray (tiny preset)': the tiny preset's `render_samples=32`; evaluation renders keep 48;
- '+ bf16 prior (--dtype bf16)': the prior's weights in bfloat16 (`headstyle stylize --dtype bf16`).

Two parts of the step set a floor that no row above removes, timed in the same rounds: the backbone passes of one
iteration (the trainable tri-planes of the iteration's code and LDIS's samples, forward and backward, and the frozen ones
forward) and the prior's UNet(+ControlNet) queries (the single view's, and the grid's at its share of iterations).

Each row also reports how far it moves the update: the cosine between its gradient and the 'before' row's on the same
random draws, from the same weights (after `--warmup` iterations of the default step), at one iteration with the grid
and one without; 'min_cosine' is the smaller.

    python benchmarks/stylize_step.py [--iters 10] [--rounds 5] [--threads 1] [--out benchmarks/results/stylize_step.json]
"""
import argparse, copy, json, os, platform, statistics, subprocess, time
from contextlib import contextmanager
from pathlib import Path
import torch
import torch.nn as nn

def reference_workload(iters:int)->float:
    "Seconds per forward+backward of six 3x3 convolutions with SiLU on 8 x 3 x 64 x 64."
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.SiLU(), *[m for _ in range(5) for m in (nn.Conv2d(64, 64, 3, padding=1), nn.SiLU())])
    x = torch.randn(8, 3, 64, 64, generator=g)
    net(x).square().mean().backward()                # warm-up
    t0 = time.perf_counter()
    for _ in range(iters):
        net.zero_grad(set_to_none=True)
        net(x).square().mean().backward()
    return (time.perf_counter() - t0) / iters

@contextmanager
def decode_everywhere():
    "The decoder at every sample with 3-D matmuls: the generator's field before it skipped the samples outside the box."
    from headstyle.generator import TriPlaneGenerator, Decoder, sample_triplanes, BOX
    import torch.nn.functional as F
    field, forward = TriPlaneGenerator.field, Decoder.forward
    def old_forward(self, feats, x):
        o = self.net(feats)
        return 10 * F.softplus(o[..., 0]) * (x.abs() < BOX / 2).all(-1), torch.sigmoid(o[..., 1:]) * 2 - 1
    TriPlaneGenerator.field = lambda self, planes: (lambda x: self.decoder(sample_triplanes(planes, x), x))
    Decoder.forward = old_forward
    try: yield
    finally: TriPlaneGenerator.field, Decoder.forward = field, forward

@contextmanager
def nothing(): yield

# name -> (patch of the step, config overrides, prior dtype); each row adds one change to the row above
VARIANTS = {'before': (decode_everywhere, dict(render_samples=None), None),
            '+ decoder inside the box': (nothing, dict(render_samples=None), None),
            '+ 32 depths per ray (tiny preset)': (nothing, dict(render_samples=32), None),
            '+ bf16 prior (--dtype bf16)': (nothing, dict(render_samples=32), torch.bfloat16)}

def gradient(st, iteration:int, seed:int)->torch.Tensor:
    "The gradient of one iteration of a copy of `st`, from its weights, with draws seeded by `seed` (float64, flattened)."
    from headstyle.stylize import seeded_global_rng
    st = copy.deepcopy(st); st.iteration = iteration; st.rng.manual_seed(seed)
    st.opt.zero_grad(set_to_none=True)
    with seeded_global_rng(seed): sum(st.losses().values()).backward()
    return torch.cat([p.grad.double().flatten() for p in st.params.values() if p.grad is not None])

def floors(st)->dict:
    "Timers of the two parts of one iteration that no change to the step above removes: the backbone passes and the prior's queries."
    c, g = st.config, torch.Generator().manual_seed(0)
    ws = st.sample_ws(c.batch + (c.ldis_samples if c.ldis_weight else 0))      # the iteration's codes and LDIS's samples
    def backbone():     # trainable tri-planes forward and backward, frozen ones forward
        st.G.zero_grad(set_to_none=True)
        st.G.triplanes(ws).square().mean().backward()
        with torch.no_grad(): st.frozen.triplanes(ws)
    def query(guide, side):
        z = torch.randn(c.batch, 4, side, side, generator=g)
        control = torch.rand(c.batch, 3, 4 * side, 4 * side, generator=g) if guide.controlnet is not None else None
        emb, unc = guide.embed([c.prompt] * c.batch), guide.embed([c.negative_prompt] * c.batch)
        with torch.no_grad(): guide.predict(z, guide.timesteps[[40] * c.batch], emb, unc, control)
    lat = st.G.img_resolution // 4                                            # the tiny VAE downsamples 4x
    def prior():        # the UNet(+ControlNet) queries of one iteration, the grid's counted at its share (every grid_every-th)
        query(st.guide, lat)
        if st.guide_grid is not None and st.iteration % c.grid_every == 0: query(st.guide_grid, 2 * (c.grid_tile or st.G.img_resolution) // 4)
        st.iteration += 1
    return dict(backbone=backbone, prior=prior)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--iters', type=int, default=10, help='timed iterations per measurement (even: the tiny preset distils the grid every 2nd)')
    ap.add_argument('--rounds', type=int, default=5, help='measurements per variant, interleaved; the median is reported')
    ap.add_argument('--threads', type=int, default=1, help='torch threads, for the step and the reference alike')
    ap.add_argument('--warmup', type=int, default=10, help='iterations before the gradients are compared')
    ap.add_argument('--methods', nargs='+', default=['sds', 'full'])
    ap.add_argument('--out', default='benchmarks/results/stylize_step.json')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from headstyle.fullscale import load_guides
    from headstyle.generator import load_generator
    from headstyle.stylize import Stylizer, StylizeConfig
    from dataclasses import replace
    G = load_generator()
    configs = {m: StylizeConfig.preset('tiny', prompt='a werewolf', seed=0).with_method(m) for m in a.methods}   # as the CLI builds them
    guides = {(m, d): load_guides(configs[m], dtype=d) for m in a.methods for d in {v[2] for v in VARIANTS.values()}}
    stylizers = {}
    for m in a.methods:
        for v, (ctx, over, dtype) in VARIANTS.items():
            stylizers[m, v] = Stylizer(G, *guides[m, dtype], config=replace(configs[m], **over))
            with ctx():
                for _ in range(2): stylizers[m, v].step()          # warm-up: one iteration with the grid, one without

    psnr = {}             # how far fewer depths per ray move the renders: PSNR against the generator's own 48
    from headstyle.generator import psnr as psnr_of
    from headstyle.cameras import sample_cameras, SINGLE_YAW, SINGLE_PITCH
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(7))
    cam16 = sample_cameras(16, SINGLE_YAW, SINGLE_PITCH, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        w16 = G.mapping(z, cam16, truncation_psi=0.75)
        native = G.synthesis(w16, cam16)['image']
        for n in (32, 24):
            psnr[n] = round(psnr_of(G.synthesis(w16, cam16, n_samples=n)['image'], native).mean().item(), 2)
            print(f"renders with {n} depths per ray vs {G.n_samples}: PSNR {psnr[n]:.2f} dB (16 identities, single-view cameras)")

    fidelity = {}
    for m in a.methods:                                          # how far each row moves one iteration's update
        base = Stylizer(G, *guides[m, None], config=configs[m])
        for _ in range(a.warmup): base.step()
        state = base.G.state_dict()
        ref = {}
        for v, (ctx, over, dtype) in VARIANTS.items():
            st = Stylizer(G, *guides[m, dtype], config=replace(configs[m], **over)); st.G.load_state_dict(state)
            with ctx(): g = {it: gradient(st, it, 1000 + it) for it in (a.warmup, a.warmup + 1)}
            ref = ref or g
            fidelity[m, v] = min(torch.nn.functional.cosine_similarity(g[it], ref[it], 0).item() for it in g)
            print(f"{m:>5} {v:<36} gradient cosine with 'before': {fidelity[m, v]:.5f}", flush=True)

    parts = {m: floors(Stylizer(G, *guides[m, None], config=configs[m])) for m in a.methods}
    times = {'reference': []} | {k: [] for k in stylizers} | {(m, f'floor: {k}'): [] for m in a.methods for k in parts[m]}
    for r in range(a.rounds):
        times['reference'].append(reference_workload(a.iters))
        for m in a.methods:
            for k, f in parts[m].items():
                t0 = time.perf_counter()
                for _ in range(a.iters): f()
                times[m, f'floor: {k}'].append((time.perf_counter() - t0) / a.iters)
        for (m, v), st in stylizers.items():
            with VARIANTS[v][0]():
                t0 = time.perf_counter()
                for _ in range(a.iters): st.step()
                times[m, v].append((time.perf_counter() - t0) / a.iters)
        print(f"round {r + 1}/{a.rounds} done", flush=True)
    ref = statistics.median(times['reference'])
    rows = {}
    print(f"reference workload: {ref:.3f} s on {a.threads} thread(s)")
    print(f"{'method':>6} {'variant':<36} {'s/iteration':>11} {'x reference':>11} {'x before':>9} {'cosine':>8}")
    for m in a.methods:
        before = statistics.median(times[m, 'before'])
        for v in VARIANTS:
            s = statistics.median(times[m, v])
            rows[f'{m} | {v}'] = dict(seconds=round(s, 4), ratio_to_reference=round(s / ref, 3), ratio_to_before=round(s / before, 3),
                                      gradient_cosine=round(fidelity[m, v], 5), all_seconds=[round(x, 4) for x in times[m, v]])
            print(f"{m:>6} {v:<36} {s:11.3f} {s / ref:11.2f} {s / before:9.3f} {fidelity[m, v]:8.5f}")
    floor = {}
    for m in a.methods:
        floor[m] = {k: round(statistics.median(times[m, f'floor: {k}']), 4) for k in parts[m]}
        print(f"{m:>6} floor: backbone passes {floor[m]['backbone']:.3f} s ({floor[m]['backbone'] / ref:.2f}x reference), "
              f"prior queries {floor[m]['prior']:.3f} s ({floor[m]['prior'] / ref:.2f}x), together {sum(floor[m].values()) / ref:.2f}x")
    cpu = subprocess.run(['lscpu'], capture_output=True, text=True).stdout if platform.system() == 'Linux' else ''
    model = next((l.split(':', 1)[1].strip() for l in cpu.splitlines() if l.startswith('Model name')), platform.processor())
    res = dict(threads=a.threads, iters=a.iters, rounds=a.rounds, warmup=a.warmup, machine=model, cpus=os.cpu_count(),
               torch=torch.__version__, reference='six 3x3 convolutions (3->64, 5x 64->64) with SiLU, forward+backward, batch 8 x 3 x 64 x 64',
               reference_seconds=round(ref, 4), reference_all_seconds=[round(x, 4) for x in times['reference']], rows=rows,
               psnr_vs_native_samples=psnr, floors_seconds=floor,
               command='python benchmarks/stylize_step.py ' + ' '.join(f'--{k} {getattr(a, k)}' for k in ('iters', 'rounds', 'threads', 'warmup')))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

if __name__ == '__main__': main()
