"""Seconds per stylization iteration of plain SDS and of the full method at `headstyle demo`'s settings.

The rows: the step before this benchmark existed (each view runs the backbone for its own tri-planes,
every render goes through super-resolution, the generator's 48 depths per ray), then each change in
turn: tri-planes shared by all views of an iteration, no super-resolution where its output is unused
(both exact), then fewer depths per ray in the training renders (`StylizeConfig.render_samples`; the
demo uses 32: its renders differ from 48-sample ones by 48 dB PSNR, against the generator's 31.7 dB
fit to the world).

Every change to the step is measured as a variant against the step without it, in the same run,
alternating variants round by round so that a busy machine slows them alike. Each time is also
given as a ratio against a plain generator forward+backward of the single view's batch (the base
and mirrored views), measured in the same rounds: that ratio is what carries across machines.

    python benchmarks/stylize_step.py [--iters 20] [--rounds 3] [--threads 1] [--out benchmarks/results/stylize_step.json]
"""
import argparse, json, os, platform, statistics, time
from contextlib import contextmanager
from pathlib import Path
import torch

@contextmanager
def per_view_planes():
    "The step before sharing: every view of an iteration runs the backbone for its own tri-planes."
    from headstyle.stylize import Stylizer
    from dataclasses import replace
    saved = Stylizer.shared_planes
    Stylizer.shared_planes = lambda self, ws: None
    try: yield
    finally: Stylizer.shared_planes = saved

@contextmanager
def always_sr():
    "The step before skipping it: every render goes through super-resolution, used or not."
    from headstyle.generator import TriPlaneGenerator
    saved = TriPlaneGenerator.synthesis
    TriPlaneGenerator.synthesis = lambda self, *a, superresolution=True, **kw: saved(self, *a, **kw)
    try: yield
    finally: TriPlaneGenerator.synthesis = saved

@contextmanager
def before():
    with per_view_planes(), always_sr(): yield

@contextmanager
def nothing(): yield

# name -> (patch of the step, config overrides); each row adds one change to the row above
VARIANTS = {'before': (before, dict(render_samples=None)),
            '+ shared tri-planes': (always_sr, dict(render_samples=None)),
            '+ no unused super-resolution': (nothing, dict(render_samples=None)),
            '+ 32 samples per ray (the demo)': (nothing, dict(render_samples=32)),
            '+ 24 samples per ray': (nothing, dict(render_samples=24))}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--iters', type=int, default=20, help='timed iterations per measurement (even: the grid runs every 2nd)')
    ap.add_argument('--rounds', type=int, default=3, help='measurements per variant, interleaved; the median is reported')
    ap.add_argument('--threads', type=int, default=1, help='torch threads (the demo uses 1)')
    ap.add_argument('--methods', nargs='+', default=['sds', 'full'])
    ap.add_argument('--out', default='benchmarks/results/stylize_step.json')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from headstyle.cli import load_guides
    from headstyle.demo import demo_config, PLAIN
    from headstyle.generator import load_generator
    from headstyle.cameras import sample_cameras, SINGLE_YAW, SINGLE_PITCH
    from headstyle.guidance import mirror_batch
    from headstyle.stylize import Stylizer
    from dataclasses import replace
    G = load_generator()
    configs = {m: demo_config(m, 'a werewolf', 0, 10_000) for m in a.methods}
    guides = {m: load_guides(c) for m, c in configs.items()}

    def step_time(m, overrides):
        st = Stylizer(G, *guides[m], config=replace(configs[m], **overrides))
        for _ in range(2): st.step()                 # warm-up: one iteration with the grid, one without
        t0 = time.perf_counter()
        for _ in range(a.iters): st.step()
        return (time.perf_counter() - t0) / a.iters

    Gt = Stylizer(G, *guides[a.methods[0]], config=configs[a.methods[0]]).G    # the trainable copy
    ws = Stylizer(G, *guides[a.methods[0]], config=configs[a.methods[0]]).sample_ws(1).repeat(2, 1, 1)
    cams = mirror_batch(sample_cameras(1, SINGLE_YAW, SINGLE_PITCH, generator=torch.Generator().manual_seed(0)))
    def reference():
        t0 = time.perf_counter()
        for _ in range(a.iters):
            Gt.zero_grad(set_to_none=True)
            Gt.synthesis(ws, cams)['image'].square().mean().backward()
        return (time.perf_counter() - t0) / a.iters

    fidelity = {}          # how far fewer depths per ray move the renders: PSNR against the generator's own sampling
    from headstyle.generator import psnr
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(7))
    cam16 = sample_cameras(16, SINGLE_YAW, SINGLE_PITCH, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        w16 = Stylizer(G, *guides[a.methods[0]], config=configs[a.methods[0]]).G.mapping(z, cam16, truncation_psi=0.75)
        native = G.synthesis(w16, cam16)['image']
        for n in (32, 24):
            fidelity[n] = round(psnr(G.synthesis(w16, cam16, n_samples=n)['image'], native).mean().item(), 2)
            print(f"renders with {n} depths per ray vs {G.n_samples}: PSNR {fidelity[n]:.2f} dB (16 identities, single-view cameras)")
    times = {'reference': []} | {(m, v): [] for m in a.methods for v in VARIANTS}
    for r in range(a.rounds):
        times['reference'].append(reference())
        for m in a.methods:
            for v, (ctx, overrides) in VARIANTS.items():
                with ctx(): times[m, v].append(step_time(m, overrides))
        print(f"round {r + 1}/{a.rounds} done", flush=True)
    ref = statistics.median(times['reference'])
    rows = {}
    print(f"reference: generator forward+backward of 2 views (base + mirror): {ref * 1e3:.1f} ms")
    print(f"{'method':>6} {'variant':<30} {'s/iteration':>12} {'x reference':>12} {'x before':>9}")
    for m in a.methods:
        before = statistics.median(times[m, next(iter(VARIANTS))])
        for v in VARIANTS:
            s = statistics.median(times[m, v])
            rows[f'{m} | {v}'] = dict(seconds=round(s, 4), ratio_to_reference=round(s / ref, 2), ratio_to_before=round(s / before, 3),
                                      all_seconds=[round(x, 4) for x in times[m, v]])
            print(f"{m:>6} {v:<30} {s:12.3f} {s / ref:12.2f} {s / before:9.3f}")
    res = dict(threads=a.threads, iters=a.iters, rounds=a.rounds, machine=platform.processor() or platform.machine(),
               cpus=os.cpu_count(), reference_seconds=round(ref, 4), rows=rows, psnr_vs_native_samples=fidelity,
               command='python benchmarks/stylize_step.py ' + ' '.join(f'--{k} {v}' for k, v in (('iters', a.iters), ('rounds', a.rounds), ('threads', a.threads))))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
