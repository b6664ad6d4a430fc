"""The training workflow end to end: stated accuracies, a short real-data training, and
the one-line message when Fashion-MNIST is missing."""

import importlib

import numpy as np

import nnscratch as ns
from nnscratch import cli, nn, optim, train
from nnscratch.data import datasets, transforms

fashion_module = importlib.import_module("nnscratch.data.datasets.fashion_mnist")


def test_fit_on_the_spiral_reaches_90_percent():
    ns.manual_seed(0)
    x, y = ns.data.synthetic.spiral(samples=100, classes=3)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 3))
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    history = train.fit(model, nn.CrossEntropyLoss(), optimizer, (x, y), epochs=1000,
                        batch_size=300, progress=False)
    assert history["accuracy"][-1] >= 0.9
    assert train.evaluate(model, nn.CrossEntropyLoss(), (x, y))["accuracy"] >= 0.9


def test_short_training_on_a_2000_image_slice_of_fashion_mnist():
    images, labels, names = datasets.fashion_mnist("train")
    test_images, test_labels, _ = datasets.fashion_mnist("test")
    ns.manual_seed(0)
    x = transforms.scale_to_unit(images[:2000])
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    loss = nn.CrossEntropyLoss()
    history = train.fit(model, loss, optimizer, (x, labels[:2000]), epochs=5, batch_size=64,
                        validation_split=0.1, progress=False)
    assert history["val_accuracy"][-1] >= 0.70
    scores = train.evaluate(model, loss, (transforms.scale_to_unit(test_images[:1000]),
                                          test_labels[:1000]))
    assert scores["accuracy"] >= 0.70, scores
    assert len(names) == 10


def test_a_missing_dataset_gives_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fashion_module, "SYSTEM_DIR", tmp_path / "no-system-dir")
    monkeypatch.setattr(fashion_module, "_cache", {})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NNSCRATCH_DATA", raising=False)
    code = cli.main(["train", "fashion-mlp", "--epochs", "1", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "nnscratch data fetch fashion-mnist" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_trained_weights_predict_the_same_after_a_save_and_load(tmp_path):
    ns.manual_seed(1)
    x, y = ns.data.synthetic.vertical(samples=50, classes=3)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    train.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (x, y),
              epochs=20, batch_size=16, progress=False)
    ns.save(model.state_dict(), tmp_path / "weights.npz")
    copy = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    copy.load_state_dict(ns.load(tmp_path / "weights.npz"))
    np.testing.assert_array_equal(train.predict(model, x), train.predict(copy, x))
