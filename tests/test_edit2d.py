"""`headstyle edit2d`: the 2D-editor baselines (TinyHeads stand-ins and InstructPix2Pix from a folder), graded by `evaluate_runs`."""
import json, subprocess
import pytest, torch
from safetensors.torch import save_file, load_file
from conftest import BIN
from headstyle.cli import main
from headstyle.edit2d import random_id_encoder, tiny_ip2p, STAND_INS


def run(capsys, *args):
    "Run `headstyle` in this process: (exit code, standard error)."
    try: rc = main([str(a) for a in args])
    except SystemExit as e: rc = e.code
    return rc, capsys.readouterr().err

@pytest.fixture(scope='module')
def id_weights(tmp_path_factory):
    "Weights of an untrained TinyID calibrated on TinyHeads renders (the guide's trained weights are not shipped yet)."
    from headstyle.panohead import load_any_generator
    from headstyle.stylize import StylizeConfig
    from headstyle.metrics import generator_renders
    from headstyle.evaluation import run_latents
    G = load_any_generator(None)
    enc = random_id_encoder(generator_renders(G, run_latents(G, StylizeConfig.preset('tiny'), 4, 1))['image'].flatten(0, 1))
    path = tmp_path_factory.mktemp('id')/'tinyid.safetensors'
    save_file(enc.state_dict(), str(path))
    return path

def edit(capsys, out, method, *extra):
    rc, err = run(capsys, 'edit2d', '--method', method, '--prompt', 'a werewolf', '--identities', 2, '--steps', 4, '--seed', 3, '--out', out, *extra)
    assert rc == 0, err
    return json.loads((out/'edit.json').read_text()), load_file(str(out/'views.safetensors'))

def test_stand_ins_end_to_end_and_graded(tmp_path, capsys, id_weights):
    from headstyle.evaluation import evaluate_runs
    meta, t = edit(capsys, tmp_path/'ip2p', 'ip2p')
    assert meta['method'] == 'instructpix2pix' and meta['settings']['stand_in'] == STAND_INS['instructpix2pix'] and meta['kind'] == 'views'
    assert t['edited'].shape == (5, 2, 3, 64, 64) and t['edited'].abs().max() <= 1
    assert sorted(p.name for p in (tmp_path/'ip2p'/'strips').iterdir()) == ['identity000.png', 'identity001.png']
    _, t2 = edit(capsys, tmp_path/'again', 'ip2p')
    assert torch.equal(t['edited'], t2['edited'])                                   # same seed, same edit
    meta_id, t_id = edit(capsys, tmp_path/'instantid', 'instantid', '--id-encoder', id_weights, '--id-weight', 5)
    assert meta_id['method'] == 'instantid' and meta_id['settings']['id_weight'] == 5
    assert not torch.equal(t['edited'], t_id['edited'])                             # same noise, identity guidance changes the edit
    from PIL import Image
    (ref := tmp_path/'ref').mkdir()                                                 # a small reference set keeps the test short
    for i, im in enumerate(t2['edited'].flatten(0, 1)): Image.fromarray(((im + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(ref/f'{i}.png')
    res, _ = evaluate_runs([tmp_path/'ip2p', tmp_path/'instantid'], identities=2, seed=3, reference=ref, progress=False)
    assert set(res['runs']) == {'ip2p', 'instantid'} and res['settings']['methods'] == {'ip2p': 'instructpix2pix', 'instantid': 'instantid'}
    for r in res['runs'].values(): assert r['delta_d'] is None and 0 <= r['clip'] and -1 <= r['id'] <= 1

def test_instructpix2pix_folder(tmp_path, capsys):
    tiny_ip2p().save_pretrained(tmp_path/'ip2p-model')
    meta, t = edit(capsys, tmp_path/'out', 'ip2p', '--model', tmp_path/'ip2p-model', '--instruction', 'make him a werewolf', '--image-guidance-scale', 1.2)
    s = meta['settings']
    assert 'stand_in' not in s and s['instruction'] == 'make him a werewolf' and s['image_guidance_scale'] == 1.2 and s['steps'] == 4
    assert t['edited'].shape == (5, 2, 3, 64, 64)

def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, id_weights):
    from headstyle.prior import load_prior
    load_prior().save_pretrained(tmp_path/'sd')
    (tmp_path/'empty').mkdir()
    base = ['edit2d', '--prompt', 'a werewolf', '--out', tmp_path/'o']
    cases = [(['--method', 'styleclip'], 'invalid choice'), (['--method', 'ip2p', '--strength', '0'], '(0, 1]'),
             (['--method', 'ip2p', '--strength', '1.5'], '(0, 1]'), (['--method', 'ip2p', '--strength', 'half'], '(0, 1]'),
             (['--method', 'ip2p', '--identities', '0'], 'positive integer'), (['--method', 'instantid', '--id-weight', '-1'], '>= 0'),
             (['--method', 'ip2p', '--model', tmp_path/'missing'], 'no such folder'),
             (['--method', 'ip2p', '--model', tmp_path/'empty'], 'model_index.json missing'),
             (['--method', 'ip2p', '--model', tmp_path/'sd'], 'takes 4 input channels'),
             (['--method', 'instantid', '--model', tmp_path/'sd'], 'antelopev2'),
             (['--method', 'instantid', '--id-encoder', tmp_path/'none.safetensors'], 'no guide identity encoder'),
             (['--method', 'ip2p', '--prompt', ' '], 'prompt is empty')]
    for args, words in cases:
        rc, err = run(capsys, *base, *args)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith('headstyle') and words in lines[0], (args, err)
    assert not (tmp_path/'o'/'edit.json').exists()

def test_console_script_lists_edit2d():
    r = subprocess.run([str(BIN/'headstyle'), 'edit2d', '--method', 'nope', '--prompt', 'x', '--out', 'x'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'edit2d' in r.stderr and len(r.stderr.strip().splitlines()) == 1
