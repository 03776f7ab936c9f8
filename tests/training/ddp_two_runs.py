"""Run under torchrun by test_ddp.py: the command line's ``train`` twice in each rank.

    python -m torch.distributed.run --nproc_per_node=2 tests/training/ddp_two_runs.py \\
        COPY_OF_STEP_3 FLAGS_OF_RUN_1 -- FLAGS_OF_RUN_2

The second run is a ``--resume``: every rank joins a fresh process group and loads the
checkpoint the first run wrote. Between the two, rank 0 keeps a copy of it (one torchrun launch
instead of two keeps the test fast).
"""

import shutil
import sys

from generator.cli import main
from generator.training.distributed import is_main_process

copy, flags = sys.argv[1], sys.argv[2:]
split = flags.index("--")
first, second = flags[:split], flags[split + 1 :]
if main(first) != 0:
    sys.exit("first run failed")
if is_main_process():
    out = first[first.index("--out") + 1]
    shutil.copy(out.removesuffix(".pt") + ".last.pt", copy)
sys.exit(main(second))
