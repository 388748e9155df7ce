"""Train the baselines' own tiny CLIP and identity encoder (seed 1, other identities than the judges').

StyleGAN-NADA and StyleCLIP optimise through CLIP, StyleCLIP and the InstantID stand-in through an identity
network. Grading them with the very networks they optimised would reward fooling the judge, so they use
these second networks instead (as the authors' baselines use other CLIPs than the one that grades them).

    python experiments/baselines/train_guides.py headstyle/assets/guides
"""
import json, sys, time
from pathlib import Path
import torch
from safetensors.torch import save_file
from headstyle.judges import (judge_data, train_tiny_clip, train_tiny_id, style_retrieval, verification_auc,
                              tiny_clip_image_processor, load_tiny_clip)
from headstyle.judges import F as _F

def main(out, seed=1):
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    t0 = time.time()
    train, held = judge_data(300, 10, seed=seed + 1000), judge_data(60, 10, seed=seed + 1777)
    _, tok = load_tiny_clip()                           # the judges' vocabulary: prompts tokenise the same
    clip, _ = train_tiny_clip(train, tok, 1500, seed=seed)
    clip.save_pretrained(out/'tinyclip'); tok.save_pretrained(out/'tinyclip')
    tiny_clip_image_processor(clip.config.vision_config.image_size).save_pretrained(out/'tinyclip')
    t1 = time.time()
    net, _ = train_tiny_id(train, 3000, seed=seed)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out/'tinyid.safetensors'))
    t2 = time.time()
    with torch.no_grad():
        emb = _F.normalize(torch.cat([net(torch.nn.functional.interpolate(held['image'][s:s + 128], size=(112, 112), mode='bilinear',
                                                                         align_corners=False)) for s in range(0, len(held['image']), 128)]), dim=-1)
    rep = dict(seed=seed, style_retrieval=style_retrieval(clip, tok, held), id_auc=verification_auc(emb, held['identity']),
               clip_s=round(t1 - t0, 1), id_s=round(t2 - t1, 1))
    (out/'guides.json').write_text(json.dumps(rep, indent=1))
    print(rep)

if __name__ == '__main__': main(sys.argv[1] if len(sys.argv) > 1 else 'headstyle/assets/guides')
