"The sweeps of headstyle.experiments: shards, resumption, summaries, and real quick runs through the CLI."
import json, os, shutil, subprocess, time
import pytest
import torch
import headstyle.experiments as ex
from conftest import BIN, ROOT
from test_metrics import evaluate_cli

def fake_make(calls):
    def make(run, folder, identities=8, quick=False, judges='tiny', reference_identities=40):
        calls.append(run.name)
        return dict(ex.asdict(run), command='fake', quick=quick, identities=identities, run_s=1., grade_s=1.,
                    metrics=dict(fid=run.seed + 1., id=.5, clip=1., kid=0., delta_d=None, diversity=.3, clip_p_target=.5),
                    settings=dict(judges=dict(clip='tiny', arcface='tiny', features='tiny CLIP image embeddings'),
                                  reference=f"TinyHeads ground truth: {run.style}, {reference_identities} identities x 5 yaws"))
    return make

def test_shards_cover_the_sweep_once_and_a_sweep_resumes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(ex, 'make_and_grade', fake_make(calls))
    a = ex.sweep('ablation', tmp_path, ('werewolf', 'pixar'), 2, part=(0, 2), progress=False)
    b = ex.sweep('ablation', tmp_path, ('werewolf', 'pixar'), 2, part=(1, 2), progress=False)
    whole = [r.name for r in ex.plan('ablation', ('werewolf', 'pixar'), 2)]
    assert sorted(calls) == sorted(whole) and len(set(calls)) == len(whole) == 8 * 2 * 2
    assert not {r['system'] + r['style'] + str(r['seed']) for r in a} & {r['system'] + r['style'] + str(r['seed']) for r in b}
    calls.clear()
    again = ex.sweep('ablation', tmp_path, ('werewolf', 'pixar'), 2, progress=False)   # everything is read back
    assert calls == [] and len(again) == len(whole)
    (tmp_path/'results'/f'{whole[3]}.json').unlink()                                # a sweep killed before this run
    ex.sweep('ablation', tmp_path, ('werewolf', 'pixar'), 2, progress=False)
    assert calls == [whole[3]]
    s = ex.summarize(ex.load_results(tmp_path))
    assert s['full']['pixar']['n'] == 2 and s['full']['pixar']['fid']['mean'] == 1.5 and s['full']['pixar']['delta_d'] is None

def test_bad_sweeps_are_one_line_errors(tmp_path):
    for args, msg in ((('table', '--shard', '2/2'), '0 <= i < n'), (('table', '--shard', 'x'), 'i/n'),
                      (('ablation', '--styles', 'anime'), "unknown style 'anime'"), (('table', '--systems', 'dreambooth'), 'unknown table system')):
        code, _, err = evaluate_cli('experiments', *args, '--out', tmp_path)
        assert code == 2 and len(err.strip().splitlines()) == 1 and msg in err, (args, err)

def test_quick_ablation_rows_in_two_workers(tmp_path):
    code, out, err = evaluate_cli('experiments', 'ablation', '--quick', '--systems', 'sds', 'full', '--workers', '2', '--out', tmp_path)
    assert code == 0, err
    s = json.loads((tmp_path/'summary.json').read_text())
    assert s['runs'] == 2 and s['quick'] and set(s['cells']) == {'sds', 'full'}
    rec = json.loads((tmp_path/'results'/'full__werewolf__seed0.json').read_text())
    assert rec['command'].startswith('headstyle stylize --method full --prompt a werewolf') and 0 <= rec['metrics']['id'] <= 1.0001
    assert rec['metrics']['delta_d'] is not None and rec['settings']['iterations'] == {'full__werewolf__seed0': 2}
    threads = torch.get_num_threads(); torch.set_num_threads(1)     # as the workers grade: the same sums in the same order
    try: traj = ex.trajectory(tmp_path, 'werewolf', seeds=(0,), systems=('sds', 'full'), every=1, progress=False,
                              identities=rec['settings']['identities'], reference_identities=8)   # as --quick grades
    finally: torch.set_num_threads(threads)
    assert [(r['system'], r['iteration']) for r in traj] == [('sds', 2), ('full', 2)]   # a quick run keeps only its last checkpoint
    assert json.loads(json.dumps(traj[1]['metrics'])) == rec['metrics']     # the last point of a trajectory is the run's own grade

def test_quick_ablation_as_a_submitit_job_array(tmp_path):
    "--launcher submitit-local: the run goes through submitit's job array (local processes here) into the same results; a rerun submits nothing."
    pytest.importorskip('submitit', reason="the [slurm] extra (in [dev]) is not installed")
    argv = ('experiments', 'ablation', '--quick', '--systems', 'sds', '--launcher', 'submitit-local', '--out', tmp_path)
    code, out, err = evaluate_cli(*argv)
    assert code == 0, err
    assert 'submitted 1 runs as a local job array' in err, err
    book = json.loads((tmp_path/'slurm'/'submitted.json').read_text())
    assert book['cluster'] == 'local' and list(book['tasks']) == ['sds__werewolf__seed0']
    rec = json.loads((tmp_path/'results'/'sds__werewolf__seed0.json').read_text())
    assert rec['command'].startswith('headstyle stylize --method sds --prompt a werewolf') and 0 <= rec['metrics']['id'] <= 1.0001
    assert json.loads((tmp_path/'summary.json').read_text())['runs'] == 1
    code, out, err = evaluate_cli(*argv)                    # everything is there: read back, nothing submitted
    assert code == 0 and 'submitted' not in err and out.startswith('1 runs'), (out, err)
    code, out, err = evaluate_cli('experiments', 'ablation', '--quick', '--partition', 'gpu', '--out', tmp_path)
    assert code == 2 and 'go with --launcher slurm' in err, err

def test_slurm_options_reach_submitit(tmp_path, monkeypatch):
    "The Slurm options become submitit parameters of one array; without --wait the command submits and returns."
    seen = {}
    def fake(jobs, out, name, cluster, parameters, wait): seen.update(n=len(jobs), cluster=cluster, parameters=parameters, wait=wait); return []
    monkeypatch.setattr(ex, 'submit_array', fake)
    code, out, err = evaluate_cli('experiments', 'ablation', '--quick', '--systems', 'sds', 'full', '--launcher', 'slurm', '--partition', 'gpu',
                                  '--gpus-per-node', '1', '--time', '90', '--array-parallelism', '4', '--slurm-option', 'mem_gb=64',
                                  '--slurm-option', 'account=proj', '--out', tmp_path)
    assert code == 0, err
    assert seen == dict(n=2, cluster='slurm', wait=False, parameters=dict(slurm_partition='gpu', gpus_per_node=1, timeout_min=90,
                        slurm_array_parallelism=4, mem_gb=64, slurm_account='proj'))
    assert 'run the same command again' in out
    code, out, err = evaluate_cli('experiments', 'ablation', '--quick', '--launcher', 'slurm', '--slurm-option', 'oops', '--out', tmp_path)
    assert code == 2 and 'KEY=VALUE' in err
    code, out, err = evaluate_cli('experiments', 'ablation', '--quick', '--launcher', 'slurm', '--workers', '2', '--out', tmp_path)
    assert code == 2 and '--workers is for --launcher local' in err

def test_submitit_refuses_an_unknown_option_in_one_line(tmp_path):
    pytest.importorskip('submitit', reason="the [slurm] extra (in [dev]) is not installed")
    import headstyle.cli   # registers the command line the array runs
    run = ex.Run('ablation', 'sds', 'werewolf', 0)
    from headstyle.core import UsageError
    with pytest.raises(UsageError, match='submitit refused'):
        ex.submit_array([(run, tmp_path, 2, True, 'tiny', 8)], tmp_path, cluster='local', parameters=dict(not_an_option=1))

def test_quick_table_runs_every_system(tmp_path):
    "`headstyle experiments table --quick`: each system (the seven and ours with the authors' weights) runs and is graded (the pipeline, not the numbers)."
    code, out, err = evaluate_cli('experiments', 'table', '--quick', '--out', tmp_path)
    assert code == 0, err
    s = json.loads((tmp_path/'summary.json').read_text())
    assert s['runs'] == len(ex.SYSTEMS) == 8 and set(s['cells']) == set(ex.SYSTEMS)
    for system in ex.SYSTEMS:
        m = s['cells'][system]['werewolf']
        assert m['n'] == 1 and m['id']['mean'] <= 1.0001 and (m['delta_d'] is None) == (ex.SYSTEMS[system][0] == 'edit2d'), system
    assert 'runs/' in json.loads((tmp_path/'results'/'ours__werewolf__seed0.json').read_text())['command']
    graded = json.loads((tmp_path/'results'/'ours__werewolf__seed0.json').read_text())['identities']
    fig = ex.montage(tmp_path, 'werewolf', 0, identities=(0, 1), graded=graded, out=tmp_path/'montage.png')
    assert [a.get_ylabel() for a in fig.axes] == ['original', *ex.SYSTEMS] and (tmp_path/'montage.png').stat().st_size > 10_000

def test_a_failed_run_stops_the_sweep_and_names_its_log(tmp_path):
    (tmp_path/'runs').mkdir(); (tmp_path/'runs'/'sds__werewolf__seed0').write_text('a file where the run folder goes')
    code, out, err = evaluate_cli('experiments', 'ablation', '--quick', '--systems', 'sds', 'ld+controlnet', '--workers', '2', '--out', tmp_path)
    last = err.strip().replace('\r', '\n').splitlines()[-1]
    assert code == 1 and last.startswith('headstyle: error: run sds__werewolf__seed0 failed'), err[-800:]
    assert 'cannot write to' in last and str(tmp_path/'logs'/'sds__werewolf__seed0.log') in last and 'run the same command' in last
    assert not (tmp_path/'results'/'sds__werewolf__seed0.json').exists()

def refused(err, *parts):
    "A one-line refusal holding each of `parts`."
    return len(err.strip().splitlines()) == 1 and all(x in err for x in parts)

def test_a_folder_refuses_a_sweep_with_other_settings(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(ex, 'make_and_grade', fake_make(calls))
    code, _, err = evaluate_cli('experiments', 'ablation', '--quick', '--systems', 'sds', '--out', tmp_path)
    assert code == 0 and json.loads((tmp_path/'settings.json').read_text()) == dict(quick=True, identities=2, reference_identities=8, judges='tiny'), err
    for args, saved, asked in (((), 'quick=true, identities=2', 'quick=false, identities=8'),               # a real sweep into a quick one
                               (('--quick', '--identities', '5'), 'made with identities=2', 'asks for identities=5')):
        code, _, err = evaluate_cli('experiments', 'ablation', '--systems', 'sds', *args, '--out', tmp_path)
        assert code == 2 and refused(err, str(tmp_path), saved, asked, 'choose another --out'), (args, err)
    code, out, _ = evaluate_cli('experiments', 'ablation', '--quick', '--systems', 'sds', 'full', '--out', tmp_path)   # the same settings: more runs are fine
    assert code == 0 and calls == ['sds__werewolf__seed0', 'full__werewolf__seed0'] and out.startswith('2 runs')
    code, _, err = evaluate_cli('experiments', 'ablation', '--quick', '--identities', '5', '--systems', 'sds', '--out', tmp_path/'five')
    assert code == 0 and json.loads((tmp_path/'five'/'results'/'sds__werewolf__seed0.json').read_text())['identities'] == 5, err
    with pytest.raises(ValueError, match=r'five holds a sweep made with identities=5 .*asks for identities=2'): ex.collect(tmp_path, tmp_path/'five')   # nor are they merged

def test_a_folder_from_before_settings_files_is_judged_by_its_results(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(ex, 'make_and_grade', fake_make(calls))
    ex.sweep('ablation', tmp_path, ('werewolf',), 1, identities=2, quick=True, systems=['sds', 'full'], progress=False)
    (tmp_path/'settings.json').unlink()
    with pytest.raises(ValueError, match=r'made with quick=true, identities=2, reference_identities=8 \(as its results record\), but this one asks for quick=false'):
        ex.sweep('ablation', tmp_path, ('werewolf',), 1, progress=False)
    assert not (tmp_path/'settings.json').exists()
    ex.sweep('ablation', tmp_path, ('werewolf',), 1, identities=2, quick=True, progress=False)          # what the results say: accepted, and remembered
    assert json.loads((tmp_path/'settings.json').read_text())['quick'] and len(calls) == len(ex.ABLATION)
    (tmp_path/'settings.json').unlink()
    rec = json.loads((tmp_path/'results'/'sds__werewolf__seed0.json').read_text())
    (tmp_path/'results'/'sds__werewolf__seed0.json').write_text(json.dumps(dict(rec, quick=False)))   # what the old bug left: mixed results
    with pytest.raises(ValueError, match='its results were made with different settings .*quick=false.* in sds__werewolf__seed0.json'):
        ex.sweep('ablation', tmp_path, ('werewolf',), 1, identities=2, quick=True, progress=False)
    del rec['quick']; (tmp_path/'results'/'sds__werewolf__seed0.json').write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="sds__werewolf__seed0.json does not say which settings made it .*'quick'.*choose another --out"):
        ex.sweep('ablation', tmp_path, ('werewolf',), 1, identities=2, quick=True, progress=False)

@pytest.mark.parametrize('name', ['table', 'ablation'])
def test_the_committed_sweeps_accept_their_own_commands(tmp_path, monkeypatch, name):
    "experiments/<sweep> has no settings file: the command it was made with still reads it back, and a quick sweep is refused."
    def make(*a, **kw): raise AssertionError('no run should be made: every result is there')
    monkeypatch.setattr(ex, 'make_and_grade', make)
    shutil.copytree(ROOT/'experiments'/name/'results', tmp_path/'results')
    summary = json.loads((ROOT/'experiments'/name/'summary.json').read_text())
    argv = summary['command'].split()[1:]
    code, out, err = evaluate_cli(*argv, '--out', tmp_path)
    assert code == 0 and out.startswith(f"{summary['runs']} runs"), err[-500:]
    assert json.loads((tmp_path/'summary.json').read_text())['cells'] == json.loads(json.dumps(summary['cells']))
    assert json.loads((tmp_path/'settings.json').read_text()) == ex.sweep_settings()
    code, _, err = evaluate_cli(*argv, '--quick', '--out', tmp_path)
    assert code == 2 and refused(err, 'quick=false', 'quick=true'), err

def test_compare_pairs_two_systems_by_seed():
    "A comparison pairs the same seeds whatever the records' order, and leaves out seeds only one system has."
    from headstyle.stats import paired_difference
    recs = [dict(system=k, style='pixar', seed=s, metrics=dict(id=x)) for k, s, x in
            [('a', 2, .30), ('b', 0, .40), ('a', 0, .50), ('b', 2, .22), ('a', 1, .42), ('b', 1, .45), ('b', 5, 9.), ('a', 7, -9.)]]
    assert ex.compare(recs, 'a', 'b', 'pixar', 'id') == paired_difference([.50, .42, .30], [.40, .45, .22])
    assert ex.compare(recs, 'a', 'b', 'joker', 'id')['n'] == 0 and ex.compare(recs, 'a', 'b', 'pixar', 'fid')['mean'] is None

@pytest.mark.parametrize('name', ['table', 'ablation'])
def test_the_committed_summaries_say_how_sure(name):
    "Student-t intervals, named in the summary (wider than three seeds' min and max), and ID's reference level id_cross in every cell."
    from headstyle.stats import INTERVAL
    s = json.loads((ROOT/'experiments'/name/'summary.json').read_text())
    recs = ex.load_results(ROOT/'experiments'/name)
    assert s['interval'] == INTERVAL and s['runs'] == len(recs)
    for system, styles in s['cells'].items():
        for style, c in styles.items():
            ids = [r['metrics']['id'] for r in recs if (r['system'], r['style']) == (system, style)]
            assert c['n'] == len(ids) == 3 and c['id']['ci'][0] < min(ids) and c['id']['ci'][1] > max(ids), (system, style)
            assert c['id_cross']['n'] == 3 and c['id_other'] is None and c['retrieval'] is None, (system, style)   # not recorded for these sweeps

def test_reference_rows_of_the_committed_table():
    "The table's grey rows: the original heads (ID 1, no change of depth) and id_cross, one value per seed, the same for every system."
    recs = ex.load_results(ROOT/'experiments'/'table')
    ref = ex.reference_rows(recs)
    assert list(ref) == list(ex.REFERENCE_ROWS)
    for style in ex.PAPER_STYLES:
        orig, cross = ref['original (unchanged)'][style], ref['id_cross (a different original head)'][style]
        assert orig['id']['mean'] == 1 and orig['delta_d']['mean'] == 0 and orig['n'] == 3
        per_seed = {}
        for r in recs:
            if r['style'] == style: per_seed.setdefault(r['seed'], set()).add(r['metrics']['id_cross'])
        assert all(len(v) == 1 for v in per_seed.values()) and cross['id']['n'] == len(per_seed) == 3
        assert abs(cross['id']['mean'] - sum(v.pop() for v in per_seed.values()) / 3) < 1e-12
    html = ex.table_html(ex.summarize(recs), reference=ref)
    assert html.count('<tr') == 2 + len(ex.SYSTEMS) + 2 and '>original (unchanged)</th>' in html

def test_the_ablation_order_as_17_reads_it():
    "Kendall's tau of the ablation's ID with the paper's order, and its exact p: pixar 2 pairs out of place (p = 20/720), werewolf 4 (p = 98/720)."
    recs = ex.borrow_rows(ex.load_results(ROOT/'experiments'/'ablation'), ex.load_results(ROOT/'experiments'/'table'))
    cells = ex.summarize([r for r in recs if r['style'] in ('werewolf', 'pixar')])
    for style, tau, p in (('pixar', 11 / 15, 20 / 720), ('werewolf', 7 / 15, 98 / 720)):
        t = ex.order_test(cells, 'id', style)
        assert t['rows'] == 6 and abs(t['tau'] - tau) < 1e-12 and abs(t['p'] - p) < 1e-12, (style, t)

def _workers(pid:int)->list[int]:
    "Live sweep workers (multiprocessing's spawned children) of process `pid`, from /proc."
    kids = []
    for d in filter(str.isdigit, os.listdir('/proc')):
        try: stat, cmd = open(f'/proc/{d}/stat').read(), open(f'/proc/{d}/cmdline', 'rb').read()
        except OSError: continue
        state, ppid = stat.rsplit(')', 1)[1].split()[:2]
        if int(ppid) == pid and state not in 'ZX' and b'spawn_main' in cmd: kids.append(int(d))
    return kids

def _alive(pid:int)->bool:
    try: return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] not in 'ZX'
    except OSError: return False

@pytest.mark.skipif(not os.path.isdir('/proc'), reason='finds the workers in /proc')
def test_kill_9_of_a_sweep_stops_its_workers(tmp_path):
    "Workers get SIGTERM when the sweep's process dies (the SIGTERM test of a sweep, and its rerun, are in test_cli_faults)."
    out = tmp_path/'sweep'
    argv = [str(BIN/'headstyle'), 'experiments', 'ablation', '--quick', '--systems', 'sds', 'full', '--workers', '2', '--out', str(out)]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    def started(): return {q.name for q in (out/'runs').iterdir()} if (out/'runs').is_dir() else set()
    t, workers = time.time(), set()
    while len(started()) < 2 and time.time() - t < 180 and p.poll() is None:
        workers |= set(_workers(p.pid)); time.sleep(0.1)
    workers |= set(_workers(p.pid))
    assert p.poll() is None and len(workers) == 2 and not (out/'results').exists()
    p.kill(); p.wait(timeout=30)
    t = time.time()
    while [w for w in workers if _alive(w)] and time.time() - t < 60: time.sleep(0.2)
    assert not [w for w in workers if _alive(w)] and not (out/'results').exists()    # they stopped with it, their runs unfinished: a rerun has the folder to itself

DIES_WITH_PARENT = """
import os, subprocess, sys
child = '''
import os, sys, time
if sys.argv[1] == 'poll': sys.platform = 'other'       # as where prctl is missing: the polling thread
from headstyle.trainer import die_with_parent
die_with_parent(os.getppid()); print(os.getpid(), flush=True); time.sleep(120)
'''
subprocess.Popen([sys.executable, '-c', child, sys.argv[1]]).wait()
"""

@pytest.mark.skipif(not os.path.isdir('/proc'), reason='watches the child in /proc')
@pytest.mark.parametrize('how', ['prctl', 'poll'])
def test_a_worker_dies_with_its_parent(how):
    "The mechanism in a tiny child, both ways: its parent is killed with SIGKILL, and it gets SIGTERM within seconds."
    p = subprocess.Popen([str(BIN/'python'), '-c', DIES_WITH_PARENT, how], stdout=subprocess.PIPE, text=True)
    child = int(p.stdout.readline())
    try:
        assert _alive(child)
        p.kill(); p.wait(timeout=30)
        t = time.time()
        while _alive(child) and time.time() - t < 10: time.sleep(0.05)
        assert not _alive(child), f'the child outlived its parent by {time.time() - t:.1f} s'
    finally:
        if _alive(child): os.kill(child, 9)
