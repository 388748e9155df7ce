"""Grading refuses bad input with one line instead of guessing, grading NaN, or failing later: prompts, damaged runs, judge files, report files."""
import errno, json
import pytest, torch
from test_metrics import evaluate_cli, fake_run, random_judges
from headstyle.metrics import Judges, clip_score, fid_features, kid, pairwise_distance, identity_similarity, prompt_styles, reference_style
from headstyle.evaluation import save_edit_run, load_edit_run, evaluate_runs, run_latents, write_report_files, check_scores


@pytest.fixture(scope='module')
def judges(): return Judges.tiny()

@pytest.fixture(scope='module')
def G():
    from headstyle.generator import load_generator
    return load_generator()

def one_line_error(code, err, *parts):
    "Exit 2 with one error line (after any progress bars) holding every part."
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith('headstyle: error: ') and err.count('error') == 1, (code, err)
    for p in parts: assert p in last, (p, last)

# --- 1. the prompt -> TinyHeads style mapping names, never guesses

def test_prompts_in_use_still_map():
    from headstyle.world import STYLES
    for p, s in {'a werewolf': 'werewolf', 'a marble statue': 'statue', 'a pixar character': 'pixar', 'the joker': 'joker',
                 'a werewolf wizard': 'werewolf', 'a pencil sketch': 'sketch', 'a zombie': 'zombie', 'a photo of a person': 'photo'}.items():
        assert reference_style(p) == s
    for s, (canon, others) in STYLES.items():             # the experiments grade each style's canonical prompt
        assert all(prompt_styles(p) == [s] for p in (canon, *others))

def test_prompt_naming_no_single_style_is_refused_without_reference(tmp_path, G):
    run = fake_run(tmp_path/'run', G)
    for p, named in (('', 'no'), ('a vampire astronaut', 'no'), ('a zombie pixar character', 'pixar and zombie')):
        code, _, err = evaluate_cli('evaluate', run, '--prompt', p, '--out', tmp_path/'ev')
        one_line_error(code, err, f"prompt {p!r} names {named} TinyHeads style", 'photo, statue, joker, werewolf, pixar, sketch, zombie',
                       'pass --reference FOLDER to grade against your own images')
    assert not (tmp_path/'ev'/'metrics.json').exists()

def test_blank_prompt_is_refused_with_a_reference(tmp_path, G, small_reference):
    code, _, err = evaluate_cli('evaluate', fake_run(tmp_path/'run', G), '--prompt', '  ', '--reference', small_reference, '--out', tmp_path/'ev')
    one_line_error(code, err, 'is empty')

# --- 2. non-finite numbers, codes and views

def test_nan_generator_is_refused_before_anything_is_written(tmp_path, G, small_reference, monkeypatch):
    "A generator with NaN weights that reaches grading (loaders refuse them on disk; this one is handed over as it loads)."
    import copy, headstyle.panohead as P
    run = fake_run(tmp_path/'run', G)
    real = P.load_any_generator
    def damaged(path=None):
        g = real(path)
        if path is not None and 'run' in str(path):
            g = copy.deepcopy(g)
            with torch.no_grad(): next(g.backbone.synthesis.parameters()).fill_(float('nan'))
        return g
    monkeypatch.setattr(P, 'load_any_generator', damaged)
    code, _, err = evaluate_cli('evaluate', run, '--identities', 2, '--reference', small_reference, '--out', tmp_path/'ev')
    one_line_error(code, err, "run 'run'", str(run), 'non-finite fid, kid, kid_std, clip', 'id, id_other, retrieval', 'diversity', 'weights or codes are probably damaged')
    assert 'id_cross' not in err                   # a property of the original renders, which are fine
    assert not (tmp_path/'ev').exists() or not list((tmp_path/'ev').iterdir())

def test_check_scores_names_the_numbers():
    good = dict(fid=1., kid=0.1, id=0.9, delta_d=None)
    check_scores(dict(original=good, runs=dict(a=good)))
    with pytest.raises(ValueError, match=r"run 'a' \(runs/a\) graded non-finite fid, id: .*damaged"):
        check_scores(dict(original=good, runs=dict(a=dict(good, fid=float('nan'), id=float('inf')))), {'a': 'runs/a'})

def test_edit_runs_with_non_finite_codes_or_views_are_refused(tmp_path, G):
    from safetensors.torch import load_file, save_file
    from headstyle.stylize import StylizeConfig
    c = StylizeConfig.preset('tiny')
    w0 = run_latents(G, c, 2, 0)
    bad = w0.clone(); bad[0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='w holds 1 NaN or inf'): save_edit_run(tmp_path/'a', 'test', 'a werewolf', w0, 0, c, w=bad)
    views = torch.zeros(5, 2, 3, 8, 8); views[1, 1, 0, 2, 2] = float('inf')
    with pytest.raises(ValueError, match='edited holds 1 NaN or inf'): save_edit_run(tmp_path/'b', 'test', 'a werewolf', w0, 0, c, edited=views)
    assert not (tmp_path/'a').exists() and not (tmp_path/'b').exists()
    save_edit_run(tmp_path/'ok', 'test', 'a werewolf', w0, 0, c, w=w0 + 0.1)
    t = load_file(str(tmp_path/'ok'/'views.safetensors')); t['w'][1, 2, 3] = float('nan')
    save_file(t, str(tmp_path/'ok'/'views.safetensors'))                    # damaged after it was written
    with pytest.raises(ValueError, match=r'views.safetensors holds NaN or inf in w: the edit run is damaged'): load_edit_run(tmp_path/'ok')
    with pytest.raises(ValueError, match='NaN or inf in w'): evaluate_runs([tmp_path/'ok'], identities=2, progress=False)

# --- 3. the report files are written as a pair

def test_report_files_failing_on_the_second_leave_the_old_pair(tmp_path, monkeypatch):
    import headstyle.evaluation as E
    write_report_files(tmp_path, {'metrics.json': '{"old": 1}', 'report.html': '<p>old</p>'})
    real = E._write_synced
    def full_disk(path, text):
        if 'report.html' in path.name: raise OSError(errno.ENOSPC, 'No space left on device')
        real(path, text)
    monkeypatch.setattr(E, '_write_synced', full_disk)
    with pytest.raises(OSError, match=r'cannot write .*report\.html: No space left on device') as e:
        write_report_files(tmp_path, {'metrics.json': '{"new": 1}', 'report.html': '<p>new</p>'})
    assert e.value.errno == errno.ENOSPC
    assert (tmp_path/'metrics.json').read_text() == '{"old": 1}' and (tmp_path/'report.html').read_text() == '<p>old</p>'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['metrics.json', 'report.html']      # no temporary file left
    monkeypatch.setattr(E, '_write_synced', real)
    assert write_report_files(tmp_path, {'metrics.json': '{"new": 1}', 'report.html': '<p>new</p>'}) == [tmp_path/'metrics.json', tmp_path/'report.html']
    assert json.loads((tmp_path/'metrics.json').read_text()) == {'new': 1} and (tmp_path/'report.html').read_text() == '<p>new</p>'

# --- 4. judge and encoder files that are not what they say

def test_judges_from_a_text_file_fail_at_once_by_name(tmp_path):
    from headstyle.generator import ASSETS
    (tmp_path/'arcface.txt').write_text('not a model')
    with pytest.raises(ValueError, match=r'arcface\.txt is not an ONNX identity model .*download the file again'):
        Judges.from_folders(ASSETS/'tinyclip', tmp_path/'arcface.txt')

def test_corrupt_files_in_a_judges_folder(tmp_path, G, small_reference):
    root = random_judges(tmp_path/'judges')
    run = fake_run(tmp_path/'run', G)
    (root/'inception.pt').write_text('not a model')
    with pytest.raises(ValueError, match=r'inception\.pt is not a TorchScript file'): Judges.load(root)
    (root/'inception.pt').unlink(); (root/'arcface'/'w600k_tiny.onnx').write_text('not a model')
    with pytest.raises(ValueError, match=r'w600k_tiny\.onnx is not a readable ONNX model'): Judges.load(root)
    (root/'arcface.onnx').write_text('not a model')                              # arcface.onnx is preferred over the folder
    code, _, err = evaluate_cli('evaluate', run, '--judges', root, '--reference', small_reference, '--out', tmp_path/'ev')
    one_line_error(code, err, 'arcface.onnx is not an ONNX identity model')

def test_guide_identity_encoder_from_a_text_file(tmp_path):
    from headstyle.judges import load_guide_id
    (tmp_path/'enc.safetensors').write_text('not weights')
    with pytest.raises(ValueError, match=r'enc\.safetensors is not a safetensors file .*expected TinyID weights'): load_guide_id(tmp_path/'enc.safetensors')

# --- 5. library calls on NaN, 0-255 and empty input

def test_library_calls_refuse_bad_tensors(judges):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 4, generator=g), torch.randn(20, 4, generator=g)
    b[3, 1] = float('nan')
    with pytest.raises(ValueError, match='feature set 2 holds 1 NaN or inf'): kid(a, b)
    with pytest.raises(ValueError, match='N, M >= 2'): kid(a, b[:0])
    e = torch.eye(3); e[1, 1] = float('nan')
    with pytest.raises(ValueError, match='embeddings hold 1 NaN or inf'): pairwise_distance(e)
    x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    with pytest.raises(ValueError, match=r'expected values in \[-1, 1\], got'): clip_score(judges, (x + 1) * 127.5, 'a werewolf')
    with pytest.raises(ValueError, match='none of them 0'): clip_score(judges, x[:0], 'a werewolf')
    with pytest.raises(ValueError, match='none of them 0'): fid_features(judges, x[:0])
    with pytest.raises(ValueError, match='none of them 0'): identity_similarity(judges.recognizer, x[None, :0], x[None, :0])
    y = x.clone(); y[0, 0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='images hold 1 NaN or inf'): clip_score(judges, y, 'a werewolf')
    assert clip_score(judges, x, 'a werewolf')['score'].isfinite().all()          # good input still passes
