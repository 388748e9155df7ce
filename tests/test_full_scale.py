"""The full-scale code path on CPU: an SD1.5-layout pipeline (random, narrowed), two ControlNets and a tiny Depth Anything
from local folders run the `paper` preset through the command line, in fp32 and in bf16."""
import json, subprocess, time
import pytest
import torch
from headstyle.trainer import list_checkpoints
from conftest import BIN
from tiny_sd import save_sd15_layout

@pytest.fixture(scope='module')
def models(tmp_path_factory): return save_sd15_layout(tmp_path_factory.mktemp('sd15'))

@pytest.mark.parametrize('dtype', ['fp32', 'bf16'])
def test_paper_preset_from_local_folders(models, tmp_path, dtype):
    out = tmp_path/'run'
    t = time.time()
    r = subprocess.run([str(BIN/'headstyle'), 'stylize', '--preset', 'paper', '--iters', '2', '--prompt', 'a marble statue',
                        '--device', 'cpu', '--dtype', dtype, '--out', str(out), *models], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]
    ck = list_checkpoints(out)[-1]
    meta = json.loads((ck/'stylize.json').read_text())
    assert ck.name == 'it000002' and meta['config']['grid_depth'] == 'depth-anything' and meta['config']['grid_tile'] == 256
    assert not any(h for h in meta['stats'].values()), meta['stats']                       # no step was skipped
    print(f'{dtype}: {time.time() - t:.0f} s')

def test_prior_without_controlnets_is_one_line(models, tmp_path):
    r = subprocess.run([str(BIN/'headstyle'), 'stylize', '--preset', 'paper', *models[:4], '--out', str(tmp_path/'r')],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'needs edge and depth ControlNets' in r.stderr, r.stderr

def test_benchmark_small_scale_runs(tmp_path):
    import sys
    from conftest import ROOT
    r = subprocess.run([sys.executable, str(ROOT/'benchmarks'/'full_scale_step.py'), '--scale', 'small', '--iters', '1', '--threads', '1',
                        '--json', str(tmp_path/'r.json')], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1000:]
    res = json.loads((tmp_path/'r.json').read_text())
    assert set(res['stages']) == {'renders', 'VAE encode', 'UNet + ControlNet', 'VAE decode', 'backward', 'other'}
    assert abs(sum(v['share'] for v in res['stages'].values()) - 1) < 1e-6 and res['seconds_per_iteration'] > 0
