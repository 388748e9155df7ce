"""Seconds, FLOPs and peak memory of each stage of one `paper`-preset iteration, at the paper's sizes or narrowed ones.

`--scale full` is the paper's setting with random weights: the released PanoHead configuration (headstyle's clean-room
PanoHead), Stable Diffusion 1.5's UNet, VAE and text encoder, an edge and a depth ControlNet, and a Depth Anything with
Depth-Anything-V2-Small's layout estimating the grid's depth from the frozen generator's renders, as the authors do.
`--scale small-panohead` is that code path with narrow models (seconds on a CPU: how the full command is tested).
`small` and `medium` keep the earlier stand-in generator (TinyHeads upsampled to the paper's 512x512) and the render's
own depth. The prior (and the depth model) run in `--dtype`; the generator and its Adam state stay in fp32.

Stages are the calls they wrap: `renders` (the generators' tri-grid backbone, volume rendering and super-resolution),
`depth estimate`, `VAE encode`, `UNet + ControlNet`, `VAE decode`, `backward`; `other` is the rest of the iteration
(Canny, losses, Adam). A stage called inside another counts for itself only. One untimed warm-up iteration runs first,
under `torch.utils.flop_counter`, which gives every stage's matmul, convolution and attention FLOPs (forward and
backward); then `--iters` timed iterations. Memory by stage is the largest amount seen while the stage ran: on CUDA
`torch.cuda.max_memory_allocated`, reset at every stage boundary; on a CPU the process's resident set (VmRSS), sampled
every 10 ms and at every boundary, with glibc told to give tensors over 64 KiB back to the system when they are freed
(so the resident set follows the live tensors). Both include the models and the optimizer, not only the stage's own work.

    python benchmarks/full_scale_step.py --scale small                     # narrowed models, any CPU, under a minute
    python benchmarks/full_scale_step.py --scale small-panohead --iters 1  # the full scale's code path, narrowed
    python benchmarks/full_scale_step.py --scale full --device cuda --dtype bf16 --iters 10
    python benchmarks/full_scale_step.py --scale full --dtype bf16 --iters 1 --threads 1 --rss-limit-gib 18   # a CPU
    python benchmarks/full_scale_step.py --scale medium --backward-per-view # the cheaper order: each view's graph freed
    python benchmarks/full_scale_step.py --count-flops                      # full-size FLOPs of the prior, on the meta device
"""
import ctypes, ctypes.util
try: ctypes.CDLL(ctypes.util.find_library('c')).mallopt(-3, 1 << 16)   # M_MMAP_THRESHOLD: freed tensors leave the resident set
except (OSError, AttributeError, TypeError): pass                      # not glibc: the resident set may keep freed memory
import argparse, json, os, platform, resource, subprocess, sys, tempfile, threading, time
from collections import defaultdict
import torch
import torch.nn.functional as F
from headstyle.generator import TriPlaneGenerator
from headstyle.guidance import Guide, ddim_scheduler
from headstyle.prior import build_tokenizer
from headstyle.stylize import Stylizer, StylizeConfig
from headstyle.fullscale import sd15_models, resolve_device, resolve_dtype, place_guide

def _count_cpu_attention():
    "Give torch's FLOP counter the CPU flash-attention kernels (it counts the CUDA ones and the math path only)."
    from torch.utils import flop_counter as fc
    op = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)
    if op is None or op in fc.flop_registry: return
    fc.register_flop_formula(op)(lambda q, k, v, *a, out_shape=None, **kw: fc.sdpa_flop_count(q, k, v))
    fc.register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward)(
        lambda g, q, k, v, *a, out_shape=None, **kw: fc.sdpa_backward_flop_count(g, q, k, v))

NARROW = dict(width=8, vae_width=8, text_width=32, text_layers=2, heads=2)
SCALES = {'full': dict(prior=dict(), panohead='full', depth='v2-small', grid_tile=256),
          'small-panohead': dict(prior=NARROW, panohead='small', depth='tiny', grid_tile=64),
          'medium': dict(prior=dict(width=64, vae_width=32, text_width=128, text_layers=4, heads=4),
                         gen=dict(w_dim=64, channels=(64, 64, 64, 64), plane_channels=16, features=8, sr_channels=16,
                                  neural_rendering_resolution=32), image=512, grid_tile=256),
          'small': dict(prior=NARROW, gen=dict(w_dim=32, channels=(32, 32, 32), plane_channels=8, features=8, sr_channels=8,
                                               neural_rendering_resolution=16, n_samples=12), image=128, grid_tile=64)}
GiB = 2 ** 30

class UpsampledGenerator(TriPlaneGenerator):
    "The tri-plane generator with its image upsampled to `out_size`: PanoHead's output size, for the prior's cost."
    def __init__(self, out_size:int=512, **kw):
        super().__init__(**kw); self.out_size = self.img_resolution = out_size
    def synthesis(self, ws, c, **kw):
        r = super().synthesis(ws, c, **kw)
        if 'image' not in r: return r                    # stopped before super-resolution
        return dict(r, image=F.interpolate(r['image'], size=(self.out_size,) * 2, mode='bilinear', align_corners=False))

def build(scale:str, device, dtype, config:StylizeConfig):
    "The stylizer of a paper-preset run at the given scale, on a device, the prior (and depth model) in `dtype`."
    s = SCALES[scale]
    tok = build_tokenizer(['a photo of a person', 'a marble statue'], tempfile.mkdtemp())
    te, vae, unet, cn_edge = sd15_models(tok, **s['prior'])
    edge = place_guide(Guide(tok, te, vae, unet, ddim_scheduler(), cn_edge), device, dtype)   # in dtype before the next build
    cn_depth = sd15_models(tok, **s['prior'], seed=1)[3]
    guides = [edge, place_guide(Guide(tok, te, vae, unet, ddim_scheduler(), cn_depth), device, dtype)]
    depth = None
    if 'panohead' in s:
        from headstyle.panohead import random_panohead, panohead_config, small_config
        G = random_panohead(panohead_config() if s['panohead'] == 'full' else small_config())
        from headstyle.fullscale import DepthEstimator, depth_anything_small, tiny_depth_anything
        da = depth_anything_small() if s['depth'] == 'v2-small' else tiny_depth_anything()
        depth = DepthEstimator(da.to(device=device, dtype=dtype), size=518 if s['depth'] == 'v2-small' else 56)
    else:
        torch.manual_seed(0)
        G = UpsampledGenerator(s['image'], **s['gen'])
    return Stylizer(G.to(device), *guides, config, depth_model=depth)

def rss()->int:
    "Resident set size of this process, bytes (0 where /proc is missing)."
    try:
        with open('/proc/self/status') as f: return next(int(l.split()[1]) * 1024 for l in f if l.startswith('VmRSS:'))
    except (OSError, StopIteration): return 0

class Meter:
    "Peak memory since the last `reset`: CUDA's allocator peak, or the resident set sampled every `interval` s on a CPU."
    def __init__(self, device, interval:float=0.01, limit:float|None=None):
        self.device, self.cuda, self.limit, self.lock = device, device.type == 'cuda', limit, threading.Lock()
        self.peak, self.stop = self.now(), threading.Event()
        if not self.cuda: threading.Thread(target=self._sample, args=(interval,), daemon=True).start()
    def now(self)->int: return torch.cuda.memory_allocated(self.device) if self.cuda else rss()
    def _sample(self, dt):
        while not self.stop.wait(dt):
            r = rss()
            with self.lock: self.peak = max(self.peak, r)
            if self.limit and r > self.limit:
                print(f'stopped: the resident set reached {r / GiB:.1f} GiB, over --rss-limit-gib {self.limit / GiB:g}', file=sys.stderr, flush=True)
                os._exit(3)
    def reset(self):
        if self.cuda: torch.cuda.reset_peak_memory_stats(self.device)
        else:
            with self.lock: self.peak = rss()
    def read(self)->int:
        if self.cuda: return torch.cuda.max_memory_allocated(self.device)
        with self.lock: self.peak = max(self.peak, rss()); return self.peak

class Stages:
    "Seconds, peak memory and FLOPs of nested stages; what runs inside a nested stage counts for it, not for its caller."
    def __init__(self, meter:Meter, sync):
        self.meter, self.sync, self.stack, self.t, self.flops = meter, sync, [], None, None
        self.T, self.M, self.F = defaultdict(float), defaultdict(int), defaultdict(int)
    def switch(self):
        "Close the running stretch (time, memory, FLOPs go to the innermost open stage, or 'other') and start the next."
        self.sync(); now, key = time.perf_counter(), self.stack[-1] if self.stack else 'other'
        if self.t is not None:
            self.T[key] += now - self.t; self.M[key] = max(self.M[key], self.meter.read())
            if self.flops is not None:
                f = self.flops.get_total_flops(); self.F[key] += f - self.f0; self.f0 = f
        self.meter.reset(); self.t = time.perf_counter()
    def begin(self, flops=None):
        "Start counting afresh (optionally with a running FlopCounterMode)."
        self.T.clear(); self.M.clear(); self.F.clear(); self.stack.clear(); self.t = None
        self.flops, self.f0 = flops, flops.get_total_flops() if flops is not None else 0
        self.switch()
    def wrap(self, fn, key:str):
        "`fn`, counted as stage `key`."
        def wrapper(*a, **kw):
            self.switch(); self.stack.append(key)
            try: return fn(*a, **kw)
            finally: self.switch(); self.stack.pop()
        return wrapper

def instrument(st:Stylizer, stages:Stages):
    "Wrap the stages' calls of a stylizer (and `Tensor.backward`) with `stages`."
    def wrap(obj, name, key):
        if hasattr(obj, name): setattr(obj, name, stages.wrap(getattr(obj, name), key))
    for G in (st.G, st.frozen):
        wrap(G, 'synthesis', 'renders'); wrap(G, 'triplanes', 'renders')
    for g in {id(st.guide): st.guide, id(st.guide_grid): st.guide_grid}.values():
        wrap(g, 'encode', 'VAE encode'); wrap(g, 'predict', 'UNet + ControlNet'); wrap(g, 'decode', 'VAE decode')
    if st.depth_model is not None: st.depth_model = stages.wrap(st.depth_model, 'depth estimate')
    torch.Tensor.backward = stages.wrap(torch.Tensor.backward, 'backward')

def count_flops(config:StylizeConfig)->dict:
    "Forward FLOPs of one paper-preset iteration's prior calls at SD1.5's sizes, counted on the meta device."
    from torch.utils.flop_counter import FlopCounterMode
    tok = build_tokenizer(['a photo of a person', 'a marble statue'], tempfile.mkdtemp())
    with torch.device('meta'): te, vae, unet, cn = sd15_models(tok)
    g = Guide(tok, te, vae, unet, ddim_scheduler(), cn)
    single, grid = torch.zeros(2, 3, 512, 512, device='meta'), torch.zeros(1, 3, 512, 512, device='meta')
    out = {}
    def flops(key, fn):
        with FlopCounterMode(display=False) as fc: fn()
        out[key] = fc.get_total_flops()
    flops('VAE encode (2 single views + 1 grid)', lambda: (g.encode(single), g.encode(grid)))
    lat = torch.zeros(1, 4, 64, 64, device='meta'); t = torch.tensor([500]); e = torch.zeros(1, 77, 768, device='meta')
    ctl = torch.zeros(1, 3, 512, 512, device='meta')
    flops('UNet + ControlNet (single + grid, CFG batch 2 each)', lambda: [g.predict(lat, t, e[:, :tok.model_max_length], e[:, :tok.model_max_length], ctl) for _ in range(2)])
    flops('VAE decode (Tweedie estimate of the single view)', lambda: g.decode(lat))
    return out

def tensor_gib(st:Stylizer, depth=None)->dict:
    "GiB held by the weights (and buffers) of each model of a stylizer and by Adam's state, each tensor counted once."
    seen, out = set(), {}
    def add(key, tensors):
        n = 0
        for t in tensors:
            if torch.is_tensor(t) and t.data_ptr() not in seen: seen.add(t.data_ptr()); n += t.numel() * t.element_size()
        out[key] = out.get(key, 0) + n / GiB
    mods = dict(generator=st.G, frozen_generator=st.frozen)
    for g in (st.guide, st.guide_grid):
        if g is None: continue
        mods |= dict(text_encoder=g.text_encoder, vae=g.vae, unet=g.unet)
        if g.controlnet is not None: add('controlnets', g.controlnet.parameters())
    if depth is not None: mods['depth_model'] = depth.model
    for k, m in mods.items(): add(k, [*m.parameters(), *m.buffers()])
    add('adam_state', [v for s in st.opt.state.values() for v in s.values()])
    return out

def machine(device)->dict:
    "What the numbers were measured on."
    m = dict(torch=torch.__version__, python=platform.python_version(), torch_threads=torch.get_num_threads(), cpus=os.cpu_count())
    try:
        lscpu = dict(l.split(':', 1) for l in subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines() if ':' in l)
        m['cpu'] = lscpu.get('Model name', '').strip()
        m['cpu_bf16'] = 'avx512_bf16' in lscpu.get('Flags', '') or 'amx_bf16' in lscpu.get('Flags', '')
    except OSError: m['cpu'] = platform.processor()
    try: m['ram_gib'] = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GiB
    except (ValueError, OSError): pass
    if device.type == 'cuda':
        p = torch.cuda.get_device_properties(device)
        m |= dict(gpu=p.name, gpu_memory_gib=p.total_memory / GiB, cuda=torch.version.cuda)
    return m

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scale', choices=SCALES, default='small')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--dtype', default='fp32', choices=('fp32', 'fp16', 'bf16'))
    ap.add_argument('--iters', type=int, default=3, help='timed iterations (after one warm-up)')
    ap.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch default)')
    ap.add_argument('--backward-per-view', action='store_true', help="backward each view's losses at once")
    ap.add_argument('--count-flops', action='store_true', help='count full-size FLOPs per stage on the meta device instead')
    ap.add_argument('--rss-limit-gib', type=float, help='CPU: stop (exit 3) if the resident set passes this many GiB')
    ap.add_argument('--json', help='also write the results to this JSON file')
    a = ap.parse_args(argv)
    if a.iters < 1: ap.error(f'--iters {a.iters}: give at least 1 timed iteration')
    if a.threads: torch.set_num_threads(a.threads)
    s = SCALES[a.scale]
    cfg = StylizeConfig.preset('paper', prompt='a marble statue', perceptual_weight=0., backward_per_view=a.backward_per_view,
                               grid_tile=s['grid_tile'], grid_depth='depth-anything' if 'depth' in s else 'render')
    if a.count_flops:
        res = dict(flops=count_flops(cfg))
        for k, v in res['flops'].items(): print(f'{k:52s} {v / 1e12:8.2f} TFLOP')
    else:
        from torch.utils.flop_counter import FlopCounterMode
        _count_cpu_attention()
        device, dtype = resolve_device(a.device), resolve_dtype(a.dtype)
        sync = (lambda: torch.cuda.synchronize(device)) if device.type == 'cuda' else (lambda: None)
        meter = Meter(device, limit=a.rss_limit_gib * GiB if a.rss_limit_gib and device.type == 'cpu' else None)
        start = meter.now()                                                        # CPU: torch and the libraries
        t = time.perf_counter(); st = build(a.scale, device, dtype, cfg); build_s = time.perf_counter() - t
        log = lambda msg: print(msg, file=sys.stderr, flush=True)
        log(f'built in {build_s:.0f} s; warm-up iteration (FLOPs counted)')
        depth = st.depth_model; stages = Stages(meter, sync); instrument(st, stages)
        with FlopCounterMode(display=False) as fc:                                 # warm-up: allocations, embeddings, FLOPs
            t = time.perf_counter(); stages.begin(fc); st.step(); stages.switch(); warm_s = time.perf_counter() - t
        flops = dict(stages.F)
        log(f'warm-up in {warm_s:.0f} s; {a.iters} timed iteration(s)')
        resident = meter.now()
        stages.begin(); t0 = time.perf_counter()
        for _ in range(a.iters): st.step()
        stages.switch(); total = (time.perf_counter() - t0) / a.iters
        named = {k: v / a.iters for k, v in stages.T.items() if k != 'other'}
        secs = named | dict(other=total - sum(named.values()))
        peak = max(stages.M.values())
        kind = ('torch.cuda.max_memory_allocated, reset at every stage boundary' if device.type == 'cuda' else
                'resident set of the process (VmRSS), sampled every 10 ms and at every stage boundary')
        res = dict(scale=a.scale, device=str(device), dtype=a.dtype, backward_per_view=a.backward_per_view, iters=a.iters,
                   generator='PanoHead, ' + ('released config' if s.get('panohead') == 'full' else 'small_config') if 'panohead' in s
                             else 'TinyHeads stand-in, upsampled', grid_depth=cfg.grid_depth,
                   seconds_per_iteration=total, peak_gib=peak / GiB, peak_kind=kind, resident_at_start_gib=start / GiB,
                   resident_before_gib=resident / GiB, tensors_gib=tensor_gib(st, depth),
                   build_seconds=build_s, warmup_seconds=warm_s, warmup_flops=sum(flops.values()),
                   stages={k: dict(seconds=v, share=v / total, peak_gib=stages.M[k] / GiB, flops=flops.get(k, 0)) for k, v in secs.items()},
                   machine=machine(device))
        if device.type == 'cpu': res['process_peak_rss_gib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20   # build included
        print(f"{a.scale} scale, {device}, {a.dtype}{', backward per view' if a.backward_per_view else ''}: "
              f"{total:.3f} s per iteration, peak {res['peak_gib']:.2f} GiB ({kind}); {res['resident_before_gib']:.2f} GiB before it")
        for k, v in res['stages'].items():
            print(f"  {k:20s} {v['seconds']:9.3f} s  {v['share']:6.1%}   peak {v['peak_gib']:6.2f} GiB   {v['flops'] / 1e12:8.3f} TFLOP")
    if a.json:
        with open(a.json, 'w') as f: json.dump(res, f, indent=1)
    return 0

if __name__ == '__main__': sys.exit(main())
