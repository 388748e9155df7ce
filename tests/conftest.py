import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

import os
import pytest
import torch

# Tiny models run fastest on one thread, and pytest may share the cores; HEADSTYLE_TEST_THREADS=2 runs the suite on two
# threads instead, to check that no tolerance depends on how float32 sums are split across threads.
torch.set_num_threads(int(os.environ.get('HEADSTYLE_TEST_THREADS', '1')))

@pytest.fixture(scope='session')
def small_reference(tmp_path_factory):
    "A folder of 10 true TinyHeads renders (2 identities x 5 yaws, werewolf): a short FID reference for tests that grade runs."
    from PIL import Image
    from headstyle.metrics import true_renders
    ref = tmp_path_factory.mktemp('reference')
    for i, im in enumerate(true_renders('werewolf', 2)['image'].flatten(0, 1)):
        Image.fromarray(((im + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(ref/f'{i:02d}.png')
    return ref
