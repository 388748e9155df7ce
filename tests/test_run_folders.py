"""Run folders under bad input and faults: one writer at a time, one kind of run per folder, damaged or non-finite
checkpoints refused where they are read or would be written, a resume with another prior refused, options a method
ignores refused, bounded resource requests, and refused commands that leave nothing behind."""
import json, os, subprocess, sys, time
from dataclasses import replace
from pathlib import Path
import pytest
import torch
import headstyle
from headstyle.cli import main
from headstyle.stylize import StylizeConfig
from headstyle.trainer import Stylizer
from headstyle.trainer import list_checkpoints
from headstyle.trainer import hold_run_folder, run_kind, Diverged, LOCK_FILE, MAX_SKIPPED_IN_A_ROW
from tiny_sd import save_tiny_models, small_generator, make_guides, make_tokenizer, make_components
from headstyle.guidance import Guide, ddim_scheduler

@pytest.fixture(scope='module')
def models(tmp_path_factory): return save_tiny_models(tmp_path_factory.mktemp('models'))

@pytest.fixture(scope='module')
def guides(tmp_path_factory): return make_guides(tmp_path_factory.mktemp('tok'))

def run(capsys, *argv):
    "main() in this process: (exit code, stdout, last line of stderr)."
    try: code = main(list(argv))
    except SystemExit as e: code = e.code                  # argparse's own one-line usage errors
    out, err = capsys.readouterr()
    lines = [l for l in err.replace('\r', '\n').splitlines() if l.strip() and not l.startswith(('stylize:', 'Loading'))]
    return code, out, (lines[-1] if lines else '')

def tiny(**kw): return StylizeConfig.preset('tiny', **{**dict(prompt='a marble statue', iterations=2, checkpoint_every=1,
                                                               preview_every=0, seed=5), **kw})

# ---- one writer, one kind --------------------------------------------------------------------------------------------

HOLD = "import sys, time\nfrom headstyle.trainer import hold_run_folder\nwith hold_run_folder(sys.argv[1], 'stylize'):\n    print('held', flush=True); time.sleep(60)"

def test_a_second_process_on_the_same_out_is_refused(models, tmp_path, capsys):
    out = tmp_path/'run'
    p = subprocess.Popen([sys.executable, '-c', HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == 'held'
        code, _, last = run(capsys, 'stylize', '--iters', '2', '--out', str(out), *models)
        assert code == 2 and f'in use by another headstyle process (pid {p.pid})' in last, last
        assert not list_checkpoints(out)                       # nothing written by the refused process
    finally: p.kill(); p.wait()
    # the kernel drops the lock of a killed process: the folder is usable at once
    code, _, _ = run(capsys, 'stylize', '--iters', '1', '--out', str(out), *models)
    assert code == 0 and [c.name for c in list_checkpoints(out)] == ['it000001'] and not (out/LOCK_FILE).exists()

def test_a_folder_keeps_its_kind(models, tmp_path, capsys):
    edit = tmp_path/'edit'; edit.mkdir()
    (edit/'edit.json').write_text(json.dumps(dict(kind='latents', method='styleclip')))
    code, _, last = run(capsys, 'stylize', '--iters', '1', '--out', str(edit), *models)
    assert code == 2 and 'holds a latent-edit run' in last and 'not a stylizer run' in last, last
    run_dir = tmp_path/'run'
    assert run(capsys, 'stylize', '--iters', '1', '--out', str(run_dir), *models)[0] == 0
    assert run_kind(run_dir) == 'stylize'
    code, _, last = run(capsys, 'edit2d', '--method', 'ip2p', '--prompt', 'a werewolf', '--identities', '2', '--steps', '2', '--out', str(run_dir))
    assert code == 2 and 'holds a stylizer run' in last, last
    code, _, last = run(capsys, 'stylize', '--method', 'styleclip', '--iters', '1', '--identities', '2', '--out', str(run_dir))
    assert code == 2 and 'holds a stylizer run' in last, last

def test_edit2d_refuses_another_edit_and_redoes_nothing(tmp_path, capsys):
    out = str(tmp_path/'e')
    base = ('edit2d', '--method', 'ip2p', '--identities', '2', '--steps', '2', '--strength', '0.5', '--out', out)
    assert run(capsys, *base, '--prompt', 'a werewolf')[0] == 0
    views = (Path(out)/'views.safetensors').read_bytes()
    code, stdout, _ = run(capsys, *base, '--prompt', 'a werewolf')
    assert code == 0 and 'already holds this edit run' in stdout
    for other in (('--prompt', 'a pixar character'),):
        code, _, last = run(capsys, *base, *other)
        assert code == 2 and 'holds another 2D-edit run' in last, last
    code, _, last = run(capsys, *base[:3], '--identities', '1', *base[5:], '--prompt', 'a werewolf')
    assert code == 2 and 'holds another 2D-edit run' in last, last
    assert (Path(out)/'views.safetensors').read_bytes() == views and len(list((Path(out)/'strips').iterdir())) == 2

# ---- non-finite and damaged checkpoints ---------------------------------------------------------------------------

def test_damaged_checkpoints_are_refused_on_resume(guides, tmp_path):
    G = small_generator()
    st = Stylizer(G, *guides, tiny(), tmp_path); st.run(progress=False)
    ck = list_checkpoints(tmp_path)[-1]
    data = bytearray((ck/'model.safetensors').read_bytes()); data[-4000:] = os.urandom(4000)
    (ck/'model.safetensors').write_bytes(bytes(data))
    with pytest.raises(ValueError, match='it000002 is damaged: model.safetensors does not match the checksum written with it; remove this checkpoint'):
        Stylizer.resume(tmp_path, G, *guides)
    from headstyle.panohead import load_any_generator          # evaluate and render read checkpoints as generators: refused too
    with pytest.raises(ValueError, match='it000002 is damaged: model.safetensors does not match'): load_any_generator(ck)
    # NaN weights with a matching checksum (written by another tool): refused as damaged
    from safetensors.torch import load_file, save_file
    prev = list_checkpoints(tmp_path)[0]
    w = load_file(str(prev/'model.safetensors')); k = next(k for k, v in w.items() if v.is_floating_point()); w[k][0] = float('nan')
    save_file(w, str(prev/'model.safetensors'))
    meta = json.loads((prev/'stylize.json').read_text()); meta.pop('sha256')
    (prev/'stylize.json').write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f'is damaged: its weights: NaN or infinite values in 1 tensor \\({k}\\)'):
        Stylizer.resume(prev, G, *guides)
    meta['iteration'] = 'two'; (prev/'stylize.json').write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unreadable checkpoint .*iteration 'two' is not a count"):
        Stylizer.resume(prev, G, *guides)

def test_a_run_that_skipped_an_update_resumes(guides, tmp_path):
    G = small_generator()
    st = Stylizer(G, *guides, tiny(iterations=3), tmp_path); st.run(iterations=1, progress=False)
    st.history[-1]['total'] = float('nan'); st.save()          # the history keeps a skipped update's NaN loss on purpose
    resumed = Stylizer.resume(tmp_path, G, *guides)
    assert resumed.iteration == 1 and resumed.history[-1]['total'] != resumed.history[-1]['total']

def test_non_finite_weights_are_never_written(guides, tmp_path):
    st = Stylizer(small_generator(), *guides, tiny(), tmp_path); st.run(iterations=1, progress=False)
    with torch.no_grad(): next(iter(st.params.values())).fill_(float('inf'))
    with pytest.raises(Diverged, match='the weights of iteration 1: NaN or infinite values'): st.save()
    assert [c.name for c in list_checkpoints(tmp_path)] == ['it000001']

def test_a_run_whose_updates_are_all_skipped_stops(guides, tmp_path, monkeypatch):
    st = Stylizer(small_generator(), *guides, tiny(iterations=100), tmp_path)
    def skip():
        st.iteration += 1; st.stats['skipped'] += 1
        return dict(total=float('nan'), skipped=True)
    monkeypatch.setattr(st, 'step', skip)
    with pytest.warns(UserWarning, match='iteration 1: the loss or its gradient is not finite'):
        with pytest.raises(Diverged, match=f'the last {MAX_SKIPPED_IN_A_ROW} updates were all skipped'): st.run(progress=False)
    assert st.iteration == MAX_SKIPPED_IN_A_ROW

def test_a_full_disk_during_a_checkpoint_names_the_folder(guides, tmp_path, monkeypatch):
    import headstyle.trainer as tr
    st = Stylizer(small_generator(), *guides, tiny(), tmp_path)
    def full(path, tensors): raise RuntimeError('Error while serializing: IoError(No space left on device)')
    monkeypatch.setattr(tr, '_save_tensors', full)
    with pytest.raises(OSError, match='cannot write the checkpoint .*it000000: RuntimeError: .*No space left'): st.save()
    assert not list((tmp_path/'checkpoints').iterdir())

def test_resume_refuses_another_prior(guides, tmp_path):
    G = small_generator()
    Stylizer(G, *guides, tiny(), tmp_path).run(progress=False)
    other = [Guide(g.tokenizer, g.text_encoder, g.vae, g.unet, g.scheduler, g.controlnet) for g in guides]
    import copy
    other[1] = Guide(guides[1].tokenizer, guides[1].text_encoder, guides[1].vae, guides[1].unet, guides[1].scheduler,
                     copy.deepcopy(guides[0].controlnet))                     # the edge ControlNet where the depth one was
    with pytest.raises(ValueError, match=r'another prior than the one given \(grid.controlnet differ\).*--controlnet-'):
        Stylizer.resume(tmp_path, G, *other)
    bf = [Guide(g.tokenizer, g.text_encoder, g.vae, copy.deepcopy(g.unet).to(torch.bfloat16), g.scheduler, g.controlnet) for g in guides]
    with pytest.warns(UserWarning, match='used the prior in float32, this process in bfloat16; grid.unet, single.unet cannot be checked'):
        Stylizer.resume(tmp_path, G, *bf)                                  # another dtype: the bytes differ, so only a warning
    Stylizer.resume(tmp_path, G, *other[:1], guides[1])                    # the same models in new Guide objects: fine

# ---- options, bounds, empty folders -------------------------------------------------------------------------------

def test_options_a_method_ignores_are_refused(models, tmp_path, capsys):
    out = str(tmp_path/'run')
    cfg = tmp_path/'c.json'; cfg.write_text(StylizeConfig.preset('tiny', iterations=1).to_json())
    for argv, named in [(('--config', str(cfg), '--preset', 'tiny'), 'pass --config or --preset, not both'),
                        (('--method', 'sds', '--depth-model', str(tmp_path)), '--depth-model does nothing for --method sds'),
                        (('--method', 'sds', '--controlnet-edge', str(tmp_path)), '--controlnet-edge does nothing for --method sds'),
                        (('--id-weight', '0.1', '--identities', '3'), '--identities, --id-weight do nothing for --method full'),
                        (('--method', 'styleclip', '--prior', str(tmp_path)), '--prior does nothing for --method styleclip'),
                        (('--method', 'styleclip', '--id-weight', 'nan'), 'expected a finite number'),
                        (('--seed', str(2 ** 70)), 'expected a seed in [0, 2**63)')]:
        code, _, last = run(capsys, 'stylize', '--out', out, *argv)
        assert code == 2 and named in last, (argv, last)
    assert not Path(out).exists()                                       # refused commands leave no empty folder behind

def test_bounds_and_odd_outputs_are_refused(tmp_path, capsys):
    for argv, named in [(('stylize', '--out', ''), 'the output folder is empty'),
                        (('stylize', '--out', str(Path(headstyle.__file__).parent/'assets'/'x')), 'inside the installed headstyle package'),
                        (('render', '--checkpoint', str(tmp_path), '--samples', '100000000', '--out', str(tmp_path/'r')), 'more than 1000 strips'),
                        (('edit2d', '--method', 'ip2p', '--prompt', 'a werewolf', '--guidance-scale', 'inf', '--out', str(tmp_path/'e')), 'expected a finite number'),
                        (('edit2d', '--method', 'ip2p', '--prompt', 'a werewolf', '--strength', '0.01', '--steps', '4', '--out', str(tmp_path/'e')), 'runs no denoising step')]:
        code, _, last = run(capsys, *argv)
        assert code == 2 and named in last, (argv, last)
    assert not (Path(headstyle.__file__).parent/'assets'/'x').exists() and not (tmp_path/'r').exists() and not (tmp_path/'e').exists()

def test_configs_out_of_range_are_refused():
    for bad, msg in [(dict(grid_tile=0), 'grid_tile must be None or at least 8'), (dict(canny_low=300.), 'canny_low <= canny_high'),
                     (dict(truncation_cutoff=-4), 'truncation_cutoff must be None or >= 0'), (dict(batch=10 ** 6), 'batch 1000000 is more than'),
                     (dict(source_prompt=''), 'source_prompt is empty'), (dict(lr=1e30), 'lr must be in'),
                     (dict(ldis_samples=1000), 'ldis_samples 1000 is more than'), (dict(preview_samples=0, preview_every=1), 'preview_samples must be >= 1'),
                     (dict(seed=-1), 'seed must be in'), (dict(mirror_weights=(1., -1.)), 'mirror_weights must be non-negative')]:
        with pytest.raises(ValueError, match=msg.replace('(', '\\(')): StylizeConfig(**bad)
    StylizeConfig(preview_samples=0, preview_every=0)                    # no previews: no identities needed

def test_a_second_copy_of_the_module_in_one_process_is_the_same_holder(tmp_path):
    # a notebook that runs the trainer's cells defines a second `hold_run_folder` with its own, empty table of held folders
    import headstyle.trainer as tr
    with hold_run_folder(tmp_path/'run', 'stylize'):
        table = dict(tr._held); tr._held.clear()                   # what that second copy sees
        try:
            with hold_run_folder(tmp_path/'run', 'stylize'): pass
        finally: tr._held.clear(); tr._held.update(table)
        assert (tmp_path/'run'/LOCK_FILE).exists()                 # the inner hold did not release the outer one
    assert not (tmp_path/'run'/LOCK_FILE).exists()
