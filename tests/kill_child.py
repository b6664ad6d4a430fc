"""The training the kill test (test_kill.py) runs in a subprocess and kills with SIGKILL:
small, seeded, checkpointing every epoch, resuming from last.npz when it exists."""

import sys
from pathlib import Path

import numpy as np

import nnscratch as ns
from nnscratch import nn, optim
from nnscratch.train import callbacks as C
from nnscratch.train import fit

EPOCHS = 60


def main(folder: Path) -> None:
    data = np.random.default_rng(0)
    x = data.normal(size=(256, 32)).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.int64)
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 2))
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.7)
    last = folder / "last.npz"
    print("training", flush=True)  # the parent's cue: imports are done
    fit(model, nn.CrossEntropyLoss(), optimizer, (x[:192], y[:192]), epochs=EPOCHS,
        batch_size=16, validation_data=(x[192:], y[192:]), scheduler=scheduler,
        progress=False, callbacks=[C.ModelCheckpoint(folder)],
        resume_from=last if last.exists() else None)
    print("done", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
