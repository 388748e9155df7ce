import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

import pytest

@pytest.fixture(scope='session')
def small_reference(tmp_path_factory):
    "A folder of 10 true TinyHeads renders (2 identities x 5 yaws, werewolf): a short FID reference for tests that grade runs."
    from PIL import Image
    from headstyle.metrics import true_renders
    ref = tmp_path_factory.mktemp('reference')
    for i, im in enumerate(true_renders('werewolf', 2)['image'].flatten(0, 1)):
        Image.fromarray(((im + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(ref/f'{i:02d}.png')
    return ref
