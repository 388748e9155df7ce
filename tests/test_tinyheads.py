"Bad input and round trips for the TinyHeads world, the renderer and the tri-plane generator."
import json
import math
import pytest
import torch
from headstyle.cameras import camera_params
from headstyle.render import render_field, sample_depths
from headstyle.world import N_PARAMS, Z_DIM, render_heads, render_grid, z_to_identity, random_latents, style_prompt, STYLE_NAMES
from headstyle.generator import TriPlaneGenerator, load_generator, save_generator


@pytest.fixture(scope='module')
def G(): return TriPlaneGenerator()


def test_z_of_wrong_width(G):
    c = camera_params(torch.zeros(2), 0.)
    with pytest.raises(ValueError, match=rf'\(B, {Z_DIM}\)'): G.mapping(torch.zeros(2, Z_DIM + 1), c)
    with pytest.raises(ValueError, match=rf'\(B, {Z_DIM}\)'): z_to_identity(torch.zeros(Z_DIM))


def test_camera_batch_mismatch(G):
    z = random_latents(3)
    with pytest.raises(ValueError, match='one camera per latent'): G.mapping(z, camera_params(torch.zeros(2), 0.))
    ws = G.mapping(z, camera_params(torch.zeros(3), 0.))
    with pytest.raises(ValueError, match='one camera per sample'): G.synthesis(ws, camera_params(torch.zeros(2), 0.))
    with pytest.raises(ValueError, match=r'\(N, 25\)'): G.synthesis(ws, torch.zeros(3, 16))
    with pytest.raises(ValueError, match='one camera per identity'): render_heads(torch.zeros(3, N_PARAMS), camera_params(torch.zeros(2), 0.))


def test_ws_of_wrong_shape(G):
    with pytest.raises(ValueError, match='ws of shape'): G.synthesis(torch.zeros(1, 3, G.w_dim), camera_params(0., 0.))


def test_bad_identity_and_style():
    c = camera_params(0., 0.)
    with pytest.raises(ValueError, match=f'\\(B, {N_PARAMS}\\)'): render_heads(torch.zeros(1, 3), c)
    with pytest.raises(ValueError, match='unknown style'): render_heads(torch.zeros(1, N_PARAMS), c, style='cubism')
    with pytest.raises(ValueError, match=r'\(1, 4, 25\)'): render_grid(torch.zeros(1, N_PARAMS), c)


def test_prompts():
    assert style_prompt('photo') == 'a photo of a person' and style_prompt('statue') == 'a marble statue'
    assert {'photo', 'statue', 'joker', 'werewolf', 'pixar', 'sketch'} <= set(STYLE_NAMES)
    assert all(style_prompt(s, 0) != style_prompt(s) for s in STYLE_NAMES)


def test_missing_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match='model.safetensors'): load_generator(tmp_path / 'absent')
    (tmp_path / 'config.json').write_text('{}')
    with pytest.raises(FileNotFoundError, match='model.safetensors'): load_generator(tmp_path)


def test_corrupt_weights(tmp_path, G):
    save_generator(G, tmp_path)
    (tmp_path / 'model.safetensors').write_bytes(b'not a tensor file at all')
    with pytest.raises(ValueError, match='safetensors'): load_generator(tmp_path)


def test_corrupt_or_mismatched_config(tmp_path, G):
    save_generator(G, tmp_path)
    (tmp_path / 'config.json').write_text('{"z_dim": ')
    with pytest.raises(ValueError, match='JSON'): load_generator(tmp_path)
    cfg = dict(G.config, plane_channels=8)
    (tmp_path / 'config.json').write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match='does not match'): load_generator(tmp_path)
    (tmp_path / 'config.json').write_text(json.dumps(dict(G.config, colour='blue')))
    with pytest.raises(ValueError, match='TriPlaneGenerator'): load_generator(tmp_path)


def test_save_load_round_trip(tmp_path, G):
    z, c = random_latents(2, 4), camera_params(torch.tensor([0.3, 2.0]), 0.1)
    with torch.no_grad():
        G.backbone.mapping.w_avg.normal_()
        a = G(z, c, truncation_psi=0.7)['image']
        b = load_generator(save_generator(G, tmp_path))(z, c, truncation_psi=0.7)['image']
    assert torch.allclose(a, b, atol=1e-5)


def test_render_is_differentiable_in_the_field():
    scale = torch.tensor(1.0, requires_grad=True)
    field = lambda x: ((x.norm(dim=-1) < 0.3).float() * 50 * scale, torch.ones(*x.shape[:2], 3))
    r = render_field(field, camera_params(0., 0.), resolution=8)
    r['mask'].sum().backward()
    assert scale.grad is not None and scale.grad > 0


def test_bad_sampling_arguments():
    with pytest.raises(ValueError, match='near < far'): sample_depths(4, near=3, far=2)
    with pytest.raises(ValueError, match='n_samples'): sample_depths(4, n_samples=0)


def test_shipped_generator_loads_offline():
    from headstyle.generator import GENERATOR_DIR
    if not (GENERATOR_DIR / 'model.safetensors').exists(): pytest.skip('no shipped generator weights')
    G = load_generator()
    out = G(random_latents(1), camera_params(math.pi, 0.))
    assert out['image'].shape == (1, 3, 64, 64) and torch.isfinite(out['image']).all()
