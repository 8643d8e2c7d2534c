"""Tests of the dataset loaders in symnas.programs.data."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import torch

from symnas import programs
from symnas.programs import data
from symnas.testing import check_dataset

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _need(folder: str) -> Path:
    path = DATA / folder
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (see shared/data/README.md)")
    return path


def test_digits_split_is_fixed_stratified_and_standardised():
    d = data.digits()
    assert isinstance(d, programs.Dataset)
    assert d.x_train.shape == (1198, 1, 8, 8) and d.x_test.shape == (599, 1, 8, 8)
    assert d.num_classes == 10 and d.input_shape == (1, 8, 8)
    assert abs(float(d.x_train.mean())) < 1e-5 and abs(float(d.x_train.std()) - 1) < 1e-4
    per_class = torch.bincount(d.y_test, minlength=10).float()
    total = per_class + torch.bincount(d.y_train, minlength=10)
    assert torch.all((per_class / total - 1 / 3).abs() < 0.01)
    again = data.digits()
    assert torch.equal(again.x_test, d.x_test) and torch.equal(again.y_train, d.y_train)
    other = data.digits(seed=1)
    assert not torch.equal(other.y_test, d.y_test)


def test_digits_resize_and_channels():
    d = data.digits(resize=(16, 12), channels=3, test_fraction=0.5)
    assert d.x_train.shape[1:] == (3, 16, 12) and d.input_shape == (3, 16, 12)
    assert len(d.x_test) in (898, 899) and len(d.x_train) + len(d.x_test) == 1797
    assert torch.equal(d.x_train[:, 0], d.x_train[:, 2])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"resize": (8,)}, "resize"),
        ({"channels": 2}, "channels"),
        ({"test_fraction": 1.0}, "test_fraction"),
    ],
)
def test_digits_rejects_bad_arguments(kwargs, field):
    with pytest.raises(ValueError, match=field):
        data.digits(**kwargs)


def test_loader_is_seeded_and_covers_every_sample_once():
    d = data.synthetic(50, (3,), 4, seed=0)
    first = [y for _, y in d.loader("train", batch_size=8, shuffle=True, seed=3)]
    second = [y for _, y in d.loader("train", batch_size=8, shuffle=True, seed=3)]
    other = [y for _, y in d.loader("train", batch_size=8, shuffle=True, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    xs = torch.cat([x for x, _ in d.loader("train", batch_size=8, shuffle=True, seed=3)])
    assert len(first) == 5 and len(xs) == len(d.x_train)
    order = torch.sort(xs[:, 0]).values
    assert torch.equal(order, torch.sort(d.x_train[:, 0]).values)
    x0, y0 = next(iter(d.loader("test", batch_size=100)))
    assert torch.equal(x0, d.x_test) and torch.equal(y0, d.y_test)


def test_dataset_validates_its_fields():
    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="input_shape"):
        programs.Dataset(x, y, x, y, num_classes=2, input_shape=(3,), name="bad")
    with pytest.raises(ValueError, match="labels"):
        programs.Dataset(x, y + 2, x, y, num_classes=2, input_shape=(2,), name="bad")
    good = programs.Dataset(x, y, x, y, num_classes=2, input_shape=(2,), name="ok")
    with pytest.raises(ValueError, match="split"):
        good.loader("valid")
    with pytest.raises(ValueError, match="batch_size"):
        good.loader("train", batch_size=0)


def test_synthetic_is_deterministic_and_class_dependent():
    a = data.synthetic(200, (2, 3), 3, seed=5)
    b = data.synthetic(200, (2, 3), 3, seed=5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape == (150, 2, 3) and a.x_test.shape == (50, 2, 3)
    means = torch.stack([a.x_train[a.y_train == c].mean(0) for c in range(3)])
    assert float(torch.cdist(means.flatten(1), means.flatten(1)).max()) > 1.0
    with pytest.raises(ValueError, match="num_classes"):
        data.synthetic(10, (2,), 1)


def test_mel_filterbank_triangles_are_ordered_and_peak_at_one():
    bank = data.mel_filterbank(20, 256, 8000)
    assert bank.shape == (20, 129)
    assert np.allclose(bank.max(axis=1), 1.0, atol=0.2)
    assert np.all(np.diff(bank.argmax(axis=1)) >= 0) and bank.min() >= 0.0
    with pytest.raises(ValueError, match="n_mels"):
        data.mel_filterbank(0, 256, 8000)


def test_log_mel_of_a_tone_peaks_in_the_band_of_its_frequency():
    rate, hz = 8000, 1000.0
    tone = np.sin(2 * np.pi * hz * np.arange(rate) / rate)
    features = data.log_mel(tone, rate, n_mels=30)
    assert features.shape == (30, 98)
    bank = data.mel_filterbank(30, 256, rate)
    expected_band = int(np.argmax(bank[:, int(round(hz / rate * 256))]))
    assert int(np.argmax(features.mean(axis=1))) == expected_band


def _fake_fsdd(root: Path) -> Path:
    recordings = root / "recordings"
    recordings.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for speaker, pitch in (("bob", 300.0), ("amy", 900.0)):
        for digit in (0, 1):
            for index in range(6):
                n = 2000 + 400 * index
                t = np.arange(n) / 8000
                wave = np.sin(2 * np.pi * pitch * (1 + 0.2 * digit) * t) + 0.05 * rng.normal(size=n)
                scipy.io.wavfile.write(
                    recordings / f"{digit}_{speaker}_{index}.wav",
                    8000,
                    (wave * 8000).astype(np.int16),
                )
    return root


def test_fsdd_features_labels_split_and_cache(tmp_path):
    root = _fake_fsdd(tmp_path / "fsdd")
    cache = tmp_path / "cache"
    d = data.fsdd(root, n_mels=20, frames=60, cache_dir=cache)
    assert d.x_train.shape == (4, 20, 60) and d.x_test.shape == (20, 20, 60)
    assert d.num_classes == 2 and d.input_shape == (20, 60)
    assert torch.equal(torch.bincount(d.y_test), torch.tensor([10, 10]))
    assert len(list(cache.glob("fsdd-*.npz"))) == 1
    # every utterance is shorter than 60 frames: mean-normalised, then zero-padded
    assert torch.allclose(d.x_test.sum(dim=2), torch.zeros(20, 20), atol=1e-3)
    assert torch.all(d.x_test[:, :, 50:] == 0)
    low, high = d.x_test[d.y_test == 1], d.x_test[d.y_test == 0]  # bob 300 Hz, amy 900 Hz
    assert not torch.allclose(low.mean(0), high.mean(0), atol=0.5)
    again = data.fsdd(root, n_mels=20, frames=60, cache_dir=cache)
    assert torch.equal(again.x_train, d.x_train)
    shorter = data.fsdd(root, n_mels=20, frames=30, cache_dir=cache)
    assert torch.allclose(shorter.x_test, d.x_test[:, :, :30])
    assert len(list(cache.glob("fsdd-*.npz"))) == 2
    mfcc = data.fsdd(root, n_mels=20, n_mfcc=8, frames=60, task="digit", cache=False)
    assert mfcc.x_train.shape == (4, 8, 60) and mfcc.num_classes == 10
    assert torch.equal(torch.bincount(mfcc.y_train), torch.tensor([2, 2]))
    assert len(list(cache.glob("fsdd-*.npz"))) == 2


def test_fsdd_reports_missing_or_empty_recordings(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"recordings/\*\.wav"):
        data.fsdd(tmp_path / "nowhere")
    (tmp_path / "empty" / "recordings").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"recordings/\*\.wav"):
        data.fsdd(tmp_path / "empty")
    with pytest.raises(ValueError, match="task"):
        data.fsdd(tmp_path / "empty", task="gender")


def test_fsdd_real_speaker_split(tmp_path):
    d = data.fsdd(_need("fsdd"), cache_dir=tmp_path)
    assert d.x_train.shape == (2700, 30, 100) and d.x_test.shape == (300, 30, 100)
    assert d.num_classes == 6 and d.name == "fsdd-speaker"
    assert torch.equal(torch.bincount(d.y_test), torch.full((6,), 50))
    assert torch.isfinite(d.x_train).all()


def test_data_sets_are_loaded_by_name_with_their_folder():
    digits = data.load_dataset("digits")
    assert digits.name == "digits" and data.load_dataset(digits) is digits
    assert {"digits", "mnist", "cifar10_subset", "fsdd"} <= set(data.DATASETS.names())
    with pytest.raises(ValueError, match=r"Unknown dataset 'imagenet'; valid datasets: \["):
        data.load_dataset("imagenet")
    with pytest.raises(ValueError, match="give the folder as 'mnist:FOLDER'"):
        data.load_dataset("mnist")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.load_dataset("cifar10_subset:nowhere")
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        data.load_dataset("cifar10_subset", folder="elsewhere")


def test_mnist_real_test_set():
    d = data.mnist(_need("mnist"))
    assert d.x_train.shape == (8000, 1, 28, 28) and d.x_test.shape == (2000, 1, 28, 28)
    counts = torch.bincount(torch.cat([d.y_train, d.y_test]))
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(float(d.x_train.mean())) < 0.05


def test_cifar10_subset_real_is_normalised_nchw():
    d = data.cifar10_subset(_need("cifar10_subset"))
    assert d.x_train.shape == (1000, 3, 32, 32) and d.x_test.shape == (1000, 3, 32, 32)
    assert torch.equal(torch.bincount(d.y_train), torch.full((10,), 100))
    assert torch.all(d.x_train.mean(dim=(0, 2, 3)).abs() < 0.2)
    with pytest.raises(FileNotFoundError, match="cifar10_jpg_train_100pc.npz"):
        data.cifar10_subset(DATA / "nowhere")


@pytest.mark.parametrize("name", data.DATASETS.names())
def test_every_registered_dataset_passes_the_kit(name):
    folder = _need(name) if data.DATASETS.get(name).meta["folder"] else None
    check_dataset(name, folder)
