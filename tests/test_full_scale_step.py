"""The full-scale benchmark: its stage accounting, and the `--scale full` code path (PanoHead, Depth Anything for the grid,
memory and FLOPs by stage) run at narrow widths on a CPU."""
import importlib.util, json, subprocess, sys, time
import pytest
import torch
from conftest import ROOT

def load_benchmark():
    spec = importlib.util.spec_from_file_location('full_scale_step', ROOT/'benchmarks'/'full_scale_step.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

class FakeMeter:
    "Memory that the test sets by hand."
    def __init__(self): self.value, self.peak = 0, 0
    def set(self, v): self.value = v; self.peak = max(self.peak, v)
    def reset(self): self.peak = self.value
    def read(self): return self.peak

def test_nested_stages_count_once():
    fs = load_benchmark()
    m = FakeMeter(); s = fs.Stages(m, lambda: None)
    def inner(): m.set(5); time.sleep(0.05); m.set(1)
    def outer(): time.sleep(0.05); wrapped_inner(); time.sleep(0.05)
    wrapped_inner, wrapped_outer = s.wrap(inner, 'inner'), s.wrap(outer, 'outer')
    s.begin(); t0 = time.perf_counter(); wrapped_outer(); total = time.perf_counter() - t0; s.switch()
    assert set(s.T) == {'inner', 'outer', 'other'}
    assert s.T['inner'] >= 0.049 and s.T['outer'] >= 0.099                # each stage at least its own sleeps (any load only adds)
    assert s.T['inner'] + s.T['outer'] <= total + 1e-3                     # the outer stage's time leaves out the inner's
    assert s.M['inner'] == 5 and s.M['outer'] == 1                        # and so does its memory

def test_small_panohead_scale_runs_the_full_path(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT/'benchmarks'/'full_scale_step.py'), '--scale', 'small-panohead', '--dtype', 'bf16',
                        '--iters', '1', '--threads', '1', '--json', str(tmp_path/'r.json')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1000:]
    res = json.loads((tmp_path/'r.json').read_text())
    assert res['generator'].startswith('PanoHead') and res['grid_depth'] == 'depth-anything'
    st = res['stages']
    assert set(st) == {'renders', 'depth estimate', 'VAE encode', 'UNet + ControlNet', 'VAE decode', 'backward', 'other'}
    assert abs(sum(v['share'] for v in st.values()) - 1) < 1e-6
    assert all(v['flops'] > 0 for k, v in st.items() if k != 'other') and res['warmup_flops'] == sum(v['flops'] for v in st.values())
    assert res['peak_gib'] == max(v['peak_gib'] for v in st.values()) and res['peak_gib'] >= res['resident_before_gib'] > 0
    assert res['machine']['torch_threads'] == 1 and res['machine']['torch'] == torch.__version__

def test_bad_iters_is_one_line():
    r = subprocess.run([sys.executable, str(ROOT/'benchmarks'/'full_scale_step.py'), '--iters', '0'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and '--iters 0' in r.stderr.splitlines()[-1]
