"""headstyle.classifier: the explicit style classifier's save/load round trip, its score, and the shipped folder."""
import json
import pytest
import torch
from headstyle.classifier import *


def tiny(seed=0):
    torch.manual_seed(seed)
    return StyleClassifier(dict(DEFAULT_CONFIG, widths=[8, 16], t_dim=8)).eval()

def test_save_load_round_trip(tmp_path):
    m = tiny()
    z, t = torch.randn(4, 4, 16, 16), torch.tensor([1, 81, 281, 981])
    m.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.json', 'model.safetensors']
    back = StyleClassifier.from_pretrained(tmp_path)
    assert back.config == m.config and not back.training
    assert torch.equal(back(z, t), m(z, t))
    assert not torch.equal(tiny(1)(z, t), m(z, t))   # other weights give other logits: the check can fail

def test_scores_and_checks(tmp_path):
    m = tiny()
    z, t = torch.randn(3, 4, 16, 16), torch.tensor([1, 181, 481])
    lp = m(z, t).log_softmax(-1)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(3))
    torch.testing.assert_close(m.log_prob(z, t, 'joker'), lp[:, m.class_index('joker')])
    g = grad_log_prob(m, z, t, 'werewolf')
    assert g.shape == z.shape and g.isfinite().all() and g.abs().sum() > 0
    with pytest.raises(ValueError, match='unknown class'): m.class_index('cubist')
    with pytest.raises(ValueError, match='expected latents'): m(torch.randn(2, 3, 16, 16), t[:2])
    with pytest.raises(ValueError, match='exactly the keys'): StyleClassifier(dict(DEFAULT_CONFIG, extra=1))
    with pytest.raises(FileNotFoundError, match='model.safetensors'): StyleClassifier.from_pretrained(tmp_path)

def test_add_noise_matches_diffusers():
    from headstyle.guidance import ddim_scheduler
    s = ddim_scheduler()
    z0, e, t = torch.randn(3, 4, 16, 16), torch.randn(3, 4, 16, 16), torch.tensor([1, 181, 481])
    torch.testing.assert_close(add_noise(s.alphas_cumprod, z0, t, e), s.add_noise(z0, e, t))

def test_shipped_classifier_loads():
    m = StyleClassifier.from_pretrained()   # the folder in the package
    assert m.classes == list(CLASSES)
    assert (CLASSIFIER_DIR/'model.safetensors').stat().st_size < 1_000_000
    rep = json.loads((CLASSIFIER_DIR/'report.json').read_text())
    assert rep['call'].startswith('train_style_classifier(') and set(rep['push_left']) == set(CLASSES) - {'photo'}
    assert set(rep['accuracy']) == {str(t) for t in REPORT_TIMESTEPS}
    z = torch.zeros(2, 4, 16, 16)
    assert m(z, torch.tensor([81, 481])).isfinite().all()

def test_a_classifier_run_resumes_only_with_its_own_classifier(tmp_path):
    "A checkpoint records which classifier score a rule='classifier' run distilled; resuming with another one is refused."
    import json
    from headstyle.prior import load_prior, load_controlnet
    from headstyle.guidance import Guide
    from headstyle.generator import load_generator
    from headstyle.stylize import StylizeConfig
    from headstyle.trainer import Stylizer
    from headstyle.classifier import load_style_score, StyleScore
    edge = Guide.from_pipeline(load_prior(), controlnet=load_controlnet('edge'))
    cfg = StylizeConfig.preset('tiny-authors-matched', iterations=2, checkpoint_every=2, preview_every=0).with_method('classifier-ld+controlnet')
    G = load_generator()
    Stylizer(G, edge, None, cfg, tmp_path/'run').run(progress=False)
    saved = json.loads((tmp_path/'run'/'checkpoints'/'it000002'/'stylize.json').read_text())['classifier']
    shipped = load_style_score(cfg.prompt)
    assert saved == dict(score=repr(shipped), sha256=shipped.fingerprint)
    assert Stylizer.resume(tmp_path/'run', G, edge).iteration == 2                      # the shipped one again: fine
    other = StyleScore(shipped.model, 'werewolf', 2 * shipped.scale)
    with pytest.raises(ValueError, match='another classifier'): Stylizer.resume(tmp_path/'run', G, edge, classifier=other)
