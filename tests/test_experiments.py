"The sweeps of headstyle.experiments: shards, resumption, summaries, and real quick runs through the CLI."
import json
import pytest
import headstyle.experiments as ex
from test_metrics import evaluate_cli

def fake_make(calls):
    def make(run, folder, identities=8, quick=False, judges='tiny', reference_identities=40):
        calls.append(run.name)
        return dict(ex.asdict(run), command='fake', quick=quick, identities=identities, run_s=1., grade_s=1.,
                    metrics=dict(fid=run.seed + 1., id=.5, clip=1., kid=0., delta_d=None, diversity=.3, clip_p_target=.5))
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
    traj = ex.trajectory(tmp_path, 'werewolf', seeds=(0,), systems=('sds', 'full'), every=1, progress=False,
                         identities=rec['settings']['identities'], reference_identities=8)   # as --quick grades
    assert [(r['system'], r['iteration']) for r in traj] == [('sds', 2), ('full', 2)]   # a quick run keeps only its last checkpoint
    assert json.loads(json.dumps(traj[1]['metrics'])) == rec['metrics']     # the last point of a trajectory is the run's own grade

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
