"""Forward and forward+backward time of headstyle's PanoHead against the official implementation at the same widths.

Both generators are built from the same config (the official one at random init, pickled; ours read from that pickle),
timed in separate processes on the same inputs, eval mode (fused modulated convolutions) and fp32. The official code
runs with its pure-PyTorch reference ops off CUDA. `--official` needs a checkout of SizheAn/PanoHead (a test
reference, never a dependency); without it only ours is timed.

    python benchmarks/panohead_render.py --official /path/to/PanoHead                    # small widths, CPU
    python benchmarks/panohead_render.py --official /path/to/PanoHead --size full --device cuda
"""
import argparse, json, subprocess, sys, tempfile, textwrap, time
from pathlib import Path

TIMER = textwrap.dedent('''
    import sys, json, time, pickle, torch
    which, work, device, repeats, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    if which == 'official':
        sys.path.insert(0, sys.argv[6])
        cfg = json.load(open(work + '/config.json')); nrr = cfg.pop('neural_rendering_resolution')
        from training.triplane import TriPlaneGenerator
        torch.manual_seed(0); G = TriPlaneGenerator(**cfg); G.neural_rendering_resolution = nrr
        with open(work + '/G.pkl', 'wb') as f: pickle.dump({'G_ema': G}, f)
    else:
        import os
        from headstyle.panohead import load_panohead, PanoHeadGenerator
        if os.path.exists(work + '/G.pkl'): G = load_panohead(work + '/G.pkl')
        else: torch.manual_seed(0); G = PanoHeadGenerator(json.load(open(work + '/config.json')))
    G = G.eval().to(device)
    from headstyle.cameras import camera_params
    z = torch.randn(1, 512, generator=torch.Generator().manual_seed(0)).to(device)
    c = camera_params(torch.tensor([0.3]), 0.1).to(device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    def fwd():
        ws = G.mapping(z, c)
        return G.synthesis(ws, c, noise_mode='const')['image']
    def fwd_bwd():
        for p in G.parameters(): p.requires_grad_(True)
        fwd().square().mean().backward()
    res = {}
    for name, fn in (('forward', lambda: torch.no_grad()(fwd)()), ('forward+backward', fwd_bwd)):
        fn(); sync()
        t = time.perf_counter()
        for _ in range(repeats): fn()
        sync(); res[name] = (time.perf_counter() - t) / repeats
    print(json.dumps(res))
''')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--official', help='checkout of SizheAn/PanoHead (the reference); without it only ours is timed')
    ap.add_argument('--size', choices=['small', 'full'], default='small', help='small_config (CPU) or the released widths')
    ap.add_argument('--device', default='cpu'); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--json', help='write the result here')
    a = ap.parse_args()
    from headstyle.panohead import small_config, panohead_config
    cfg = small_config() if a.size == 'small' else panohead_config()
    with tempfile.TemporaryDirectory() as work:
        Path(work, 'config.json').write_text(json.dumps(cfg))
        res = {}
        if a.official:
            out = subprocess.run([sys.executable, '-c', TIMER, 'official', work, a.device, str(a.repeats), str(a.threads), a.official],
                                 capture_output=True, text=True, check=True)
            res['official'] = json.loads(out.stdout.strip().splitlines()[-1])
        out = subprocess.run([sys.executable, '-c', TIMER, 'ours', work, a.device, str(a.repeats), str(a.threads)],
                             capture_output=True, text=True, check=True)
        res['ours'] = json.loads(out.stdout.strip().splitlines()[-1])
    if 'official' in res: res['ratio_official_over_ours'] = {k: res['official'][k] / res['ours'][k] for k in res['ours']}
    res.update(size=a.size, device=a.device, threads=a.threads, repeats=a.repeats)
    print(json.dumps(res, indent=1))
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
