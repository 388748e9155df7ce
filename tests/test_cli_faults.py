"""The command line under bad input and faults: settings that differ from a saved run, signals, kill -9 in the middle
of a checkpoint, malformed latents and prompts, another generator, internal errors. Each ends in one line and the
conventional exit code, and leaves the run folder usable."""
import json, os, signal, subprocess, sys, time
import numpy as np
import pytest
import headstyle.cli as cli
from headstyle.cli import main
from headstyle.prior import check_prompt
from headstyle.core import UsageError
from headstyle.trainer import list_checkpoints
from headstyle.core import atomic_write
from conftest import BIN
from tiny_sd import save_tiny_models, make_tokenizer

@pytest.fixture(scope='module')
def models(tmp_path_factory): return save_tiny_models(tmp_path_factory.mktemp('models'))

def run(capsys, *argv):
    "main() in this process: (exit code, stdout, last line of stderr, every line of stderr that is not a progress bar)."
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = [l for l in err.replace('\r', '\n').splitlines() if l.strip() and not l.startswith(('stylize:', 'Loading'))]
    return code, out, (lines[-1] if lines else ''), lines

def cfg_file(path, **kw):
    path.write_text(json.dumps(dict(dict(iterations=2, checkpoint_every=1, preview_every=0, batch=1, prompt='a marble statue',
                                         seed=5, relative_lr=True, lr=1e-3, truncation_cutoff=None, grid_tile=None,
                                         perceptual_weight=0.), **kw)))
    return str(path)

def test_resume_refuses_other_settings_and_saves_extensions(models, tmp_path, capsys):
    out = str(tmp_path/'run')
    code, *_ = run(capsys, 'stylize', '--iters', '2', '--prompt', 'a marble statue', '--seed', '5', '--out', out, *models)
    assert code == 0 and [p.name for p in list_checkpoints(out)] == ['it000002']
    for args, named in [(('--seed', '3'), "seed 5 (asked 3)"), (('--method', 'sds'), "rule 'ld' (asked 'sds')"),
                        (('--preset', 'paper'), 'lr 0.001 (asked 0.0001)'), (('--prompt', 'the joker'), "prompt 'a marble statue' (asked 'the joker')")]:
        code, _, last, lines = run(capsys, 'stylize', *args, '--out', out, *models)
        assert code == 2 and len(lines) == 1 and named in last and '--resume' in last and 'another --out' in last, (args, lines)
    code, _, last, _ = run(capsys, 'stylize', '--method', 'vsd', '--out', out, *models)
    assert code == 2 and "unknown method 'vsd'" in last                           # bad options are errors when resuming too
    code, out_text, _, lines = run(capsys, 'stylize', '--seed', '3', '--resume', '--iters', '3', '--out', out, *models)
    assert code == 0 and any('ignoring: seed 5 (asked 3)' in l for l in lines)
    meta = json.loads((list_checkpoints(out)[-1]/'stylize.json').read_text())
    assert meta['iteration'] == 3 and meta['config']['iterations'] == 3 and meta['config']['seed'] == 5
    code, out_text, _, _ = run(capsys, 'stylize', '--out', out, *models)        # the extension was saved: nothing left to do
    assert code == 0 and 'already at iteration 3 of 3' in out_text
    code, *_ = run(capsys, 'stylize', '--iters', '4', '--out', out, *models)
    assert code == 0 and list_checkpoints(out)[-1].name == 'it000004'
    code, _, last, _ = run(capsys, 'stylize', '--resume', '--out', str(tmp_path/'empty'), *models)
    assert code == 2 and 'holds no finished checkpoint' in last

def test_bad_configs_and_prior_without_controlnets(models, tmp_path, capsys):
    for kw, msg in [(dict(lr=float('nan')), 'lr must be a finite number'), (dict(iterations='ten'), 'iterations must be an integer'),
                    (dict(batch=1.5), 'batch must be an integer'), (dict(single_yaw=5), 'single_yaw must be'),
                    (dict(truncation_psi=float('nan')), 'truncation_psi must be a finite number')]:
        code, _, last, lines = run(capsys, 'stylize', '--config', cfg_file(tmp_path/'c.json', **kw), '--out', str(tmp_path/'r'), *models)
        assert code == 2 and len(lines) == 1 and msg in last, (kw, lines)
    assert not list_checkpoints(tmp_path/'r')
    gen, prior = models[:2], models[2:4]
    code, _, last, lines = run(capsys, 'stylize', '--out', str(tmp_path/'r'), *gen, *prior)
    assert code == 2 and len(lines) == 1 and 'needs edge and depth ControlNets' in last and '--controlnet-edge FOLDER' in last
    code, _, last, _ = run(capsys, 'stylize', '--method', 'ld+controlnet', '--out', str(tmp_path/'r'), *gen, *prior)
    assert code == 2 and 'needs edge ControlNet;' in last
    code, _, last, _ = run(capsys, 'stylize', '--prompt', '  ', '--out', str(tmp_path/'r'), *models)
    assert code == 2 and 'prompt is empty' in last

def test_bad_latents_and_another_generator(models, tmp_path, capsys):
    out = str(tmp_path/'run')
    assert run(capsys, 'stylize', '--iters', '1', '--out', out, *models)[0] == 0
    gen = models[:2]
    G = __import__('headstyle.generator', fromlist=['load_generator']).load_generator(gen[1])
    shape = (1, G.num_ws, G.w_dim)
    np.savez(tmp_path/'nan.npz', w=np.full(shape, np.nan, np.float32))
    np.save(tmp_path/'arr.npy', np.zeros(shape, np.float32)); os.replace(tmp_path/'arr.npy', tmp_path/'arr.npz')
    np.savez(tmp_path/'str.npz', w=np.array(['a', 'b']))
    for f, msg in [('nan.npz', 'NaN or infinite'), ('arr.npz', 'single array (.npy)'), ('str.npz', 'not an array of numbers')]:
        code, _, last, lines = run(capsys, 'render', '--checkpoint', out, '--latents', str(tmp_path/f), *gen, '--out', str(tmp_path/'s'))
        assert code == 2 and len(lines) == 1 and msg in last and f in last, (f, lines)
    from headstyle.generator import save_generator
    from tiny_sd import small_generator
    save_generator(small_generator(seed=1), tmp_path/'G1')
    code, _, last, _ = run(capsys, 'render', '--checkpoint', out, '--samples', '1', '--generator', str(tmp_path/'G1'), '--out', str(tmp_path/'s'))
    assert code == 2 and 'stylized from another generator' in last
    assert run(capsys, 'render', '--checkpoint', out, '--samples', '1', *gen, '--out', str(tmp_path/'s'))[0] == 0

def test_prompt_checks(tmp_path, capsys):
    tok = make_tokenizer(tmp_path)
    assert check_prompt(tok, 'a marble statue') == []
    notes = check_prompt(tok, 'a photo of the joker ' * 4)
    assert len(notes) == 1 and notes[0].endswith('dropped: ' + ' '.join(('a photo of the joker ' * 4).split()[tok.model_max_length - 2:]))
    assert "cannot represent 'é', '🐺'" in check_prompt(tok, 'a statué 🐺')[0]
    with pytest.raises(UsageError, match='prompt is empty'): check_prompt(tok, ' ')
    assert 'warning: the prompt is longer' in capsys.readouterr().err

def test_internal_errors_are_one_line_unless_debug(monkeypatch, capsys):
    def boom(args): raise RuntimeError('something\nbroke')
    monkeypatch.setattr(cli, 'cmd_cameras', boom)
    code, _, last, lines = run(capsys, 'cameras')
    assert code == 1 and len(lines) == 1 and last == 'headstyle: internal error: RuntimeError: something broke (run again with --debug for the traceback)'
    with pytest.raises(RuntimeError): main(['cameras', '--debug'])
    with pytest.raises(RuntimeError): main(['--debug', 'cameras'])
    monkeypatch.setenv('HEADSTYLE_DEBUG', '1')
    with pytest.raises(RuntimeError): main(['cameras'])

def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    f = tmp_path/'report.html'; f.write_text('good')
    def half(p): p.write_text('trunc'); raise OSError(28, 'No space left on device')
    with pytest.raises(OSError): atomic_write(f, half)
    assert f.read_text() == 'good' and sorted(p.name for p in tmp_path.iterdir()) == ['report.html']

# ---- signals and kill -9, in real processes ----------------------------------------------------------------------

def headstyle(*args, **kw):
    return subprocess.Popen([str(BIN/'headstyle'), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1'), **kw)

@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_and_exits_128_plus_its_number(models, tmp_path, sig):
    out = tmp_path/'run'
    p = headstyle('stylize', '--config', cfg_file(tmp_path/'c.json', iterations=200), '--out', str(out), *models)
    t = time.time()
    while not list_checkpoints(out, warn=False) and time.time() - t < 120 and p.poll() is None: time.sleep(0.2)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    lines = [l for l in err.replace('\r', '\n').splitlines() if l.startswith('headstyle')]
    assert p.returncode == 128 + sig and len(lines) == 1 and lines[0].startswith(f'headstyle: stopped by {sig.name} at iteration'), err[-500:]
    done = list_checkpoints(out)[-1]
    assert f'checkpoint {done}' in lines[0] and 'Traceback' not in err
    if sig != signal.SIGTERM: return
    r = subprocess.run([str(BIN/'headstyle'), 'stylize', '--iters', str(int(done.name[2:]) + 1), '--out', str(out), *models],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and 'resuming' in r.stderr, r.stderr[-500:]

KILL_DURING_WRITE = """
import sys, time, headstyle.trainer as s
write = s._write_json
def slow(path, obj):
    if path.name == 'stylize.json': print('WRITING', flush=True); time.sleep(60)
    write(path, obj)
s._write_json = slow
from headstyle.cli import main
sys.exit(main(sys.argv[1:]))
"""

def test_kill_9_during_the_first_checkpoint_then_rerun(models, tmp_path):
    out = tmp_path/'run'
    p = subprocess.Popen([sys.executable, '-c', KILL_DURING_WRITE, 'stylize', '--config', cfg_file(tmp_path/'c.json'),
                          '--out', str(out), *models], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout.readline().strip() == 'WRITING'
    p.kill(); p.wait(timeout=30)
    assert not list_checkpoints(out) and [q.name for q in (out/'checkpoints').iterdir()] == [f'.it000001.{p.pid}.tmp']
    r = subprocess.run([str(BIN/'headstyle'), 'stylize', '--config', cfg_file(tmp_path/'c.json'), '--out', str(out), *models],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-800:]
    assert sorted(q.name for q in (out/'checkpoints').iterdir()) == ['it000001', 'it000002']   # restarted; the stale folder is gone

def test_sigterm_stops_the_parallel_demo_at_checkpoints(models, tmp_path):
    import re, threading
    out, err = tmp_path/'demo', []
    p = headstyle('demo', '--iters', '400', '--out', str(out), '--workers', '2', *models)
    threading.Thread(target=lambda: err.extend(iter(lambda: p.stderr.read(1), '')), daemon=True).start()
    t = time.time()
    def started(): return {m for m, n in re.findall(r'stylize (\w+):\s+\d+%\|[^|]*\|\s*(\d+)/', ''.join(err)) if int(n) > 0}
    while started() != {'sds', 'full'} and time.time() - t < 180 and p.poll() is None: time.sleep(0.2)
    assert p.poll() is None, ''.join(err)[-500:]
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120); time.sleep(0.5)
    lines = [l for l in ''.join(err).replace('\r', '\n').splitlines() if l.startswith('headstyle') and 'warning' not in l]
    assert p.returncode == 143 and len(lines) == 1 and lines[0].startswith('headstyle: stopped by SIGTERM'), ''.join(err)[-800:]
    assert 'Traceback' not in ''.join(err)
    assert all(list_checkpoints(out/m) for m in ("sds", "full")), "".join(err)[-1500:]          # both runs kept their work

def _children(pid:int)->list[int]:
    "Live processes whose parent is `pid` (from /proc)."
    kids = []
    for d in filter(str.isdigit, os.listdir('/proc')):
        try: stat = open(f'/proc/{d}/stat').read()
        except OSError: continue
        state, ppid = stat.rsplit(')', 1)[1].split()[:2]
        if int(ppid) == pid and state not in 'ZX': kids.append(int(d))
    return kids

def _alive(pid:int)->bool:
    try: return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] not in 'ZX'
    except OSError: return False

def test_sigterm_stops_a_sweeps_workers_and_starts_no_more_runs(tmp_path):
    out = tmp_path/'sweep'
    argv = ('experiments', 'ablation', '--quick', '--systems', 'sds', 'full', 'ld+controlnet', '--workers', '2', '--out', str(out))
    p = headstyle(*argv)
    t, kids = time.time(), set()
    def started(): return {q.name for q in (out/'runs').iterdir()} if (out/'runs').is_dir() else set()
    first = {'sds__werewolf__seed0', 'ld+controlnet__werewolf__seed0'}    # the plan's order: the third is 'full'
    while started() != first and time.time() - t < 180 and p.poll() is None:
        kids |= set(_children(p.pid)); time.sleep(0.1)
    assert p.poll() is None and not (out/'results').exists(), p.communicate()[1][-800:]
    kids |= set(_children(p.pid))
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=180)
    assert p.returncode == 143 and 'Traceback' not in err, err[-800:]
    assert [l for l in err.replace('\r', '\n').splitlines() if l.startswith('headstyle')][-1].startswith('headstyle: stopped by SIGTERM')
    time.sleep(1)
    assert len(kids) >= 2 and not [k for k in kids if _alive(k)]           # every worker stopped with the sweep
    assert started() == first                                              # and the third run never began
    r = subprocess.run([str(BIN/'headstyle'), *argv], capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr[-800:]
    assert json.loads((out/'summary.json').read_text())['runs'] == 3 and len(list((out/'logs').glob('*.log'))) == 3
