"""Datasets for scoring candidates: small, fixed splits held as in-memory tensors.

Loaders:

- ``digits``: the 8x8 handwritten digits of UCI (Alpaydin & Kaynak, 1998) bundled with
  scikit-learn, the project's default data.
- ``fsdd``: speaker identification on the Free Spoken Digit Dataset (Jakobovski et al., v1.0.10)
  with log-mel filterbank or MFCC features (Davis & Mermelstein, 1980), the front end of TDNN
  speaker models.
- ``mnist``: the official MNIST test set in IDX format (LeCun et al., 1998), split in two.
- ``cifar10_subset``: a 100-images-per-class CIFAR-10 subset (Krizhevsky, 2009), normalised with
  the channel statistics NAS-Bench-201 uses, for zero-cost proxies and smoke training.
- ``synthetic``: Gaussian classes with distinct means, deterministic for a seed, for tests.

Every loader but ``synthetic`` is registered in :data:`DATASETS`, so a data set can be named
(``"digits"``, ``"cifar10_subset:../shared/data/cifar10_subset"``) wherever one is taken:
:func:`load_dataset` turns the name into a :class:`Dataset`. Loaders return train and test
splits; ``Dataset.with_validation(fraction, seed)`` holds out a class-stratified validation split
of the training samples for selecting models, keeping the test split for final figures.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.io.wavfile
import torch
import torch.nn.functional as F
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)

from symnas.core.files import write_atomic
from symnas.core.registry import Registry

SPLITS = ("train", "valid", "test")
# Loaders by name; ``folder=True``: the loader reads files from a folder, its first argument.
DATASETS = Registry("dataset")
FSDD_TASKS = ("speaker", "digit")
# NAS-Bench-201's CIFAR-10 channel statistics (pixel values / 255).
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
# The usual MNIST statistics (pixel values / 255).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


@dataclass
class Dataset:
    """A classification task held in memory: train and test tensors, an optional validation
    split, and their metadata.

    ``input_shape`` is the shape of one sample (without the batch dimension); labels are int64
    class indices in ``[0, num_classes)``. ``x_valid``/``y_valid`` (both or neither) hold a
    validation split for selecting models, disjoint from train and test; the loaders make none,
    :meth:`with_validation` carves one out of the training samples.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    name: str
    x_valid: torch.Tensor | None = None
    y_valid: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if (self.x_valid is None) != (self.y_valid is None):
            raise ValueError(f"Dataset {self.name!r}: give both x_valid and y_valid, or neither.")
        for split in self.splits:
            x, y = self.tensors(split)
            if tuple(x.shape[1:]) != self.input_shape:
                raise ValueError(
                    f"Dataset {self.name!r}: x_{split} has sample shape {tuple(x.shape[1:])}, "
                    f"expected input_shape {self.input_shape}."
                )
            if y.ndim != 1 or len(y) != len(x):
                raise ValueError(
                    f"Dataset {self.name!r}: y_{split} must be 1-D with one label per sample "
                    f"({len(x)}); got shape {tuple(y.shape)}."
                )
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(
                    f"Dataset {self.name!r}: y_{split} labels must lie in [0, {self.num_classes})."
                )

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this data set holds: ``("train", "test")``, with ``"valid"`` between them
        when it has a validation split."""
        return SPLITS if self.has_valid else ("train", "test")

    @property
    def has_valid(self) -> bool:
        """Whether the data set holds a validation split."""
        return self.x_valid is not None

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(x, y)`` tensors of ``split`` (``"train"``, ``"valid"`` or ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"Dataset: split must be one of {SPLITS}; got {split!r}.")
        if split == "train":
            return self.x_train, self.y_train
        if split == "valid":
            if self.x_valid is None or self.y_valid is None:
                raise ValueError(
                    f"Dataset {self.name!r} has no 'valid' split (its splits: {self.splits}); "
                    "hold one out with Dataset.with_validation(fraction, seed)."
                )
            return self.x_valid, self.y_valid
        return self.x_test, self.y_test

    def with_validation(self, fraction: float = 0.2, seed: int = 0) -> Dataset:
        """This data set with ``fraction`` of its training samples held out as ``valid``.

        The held-out samples are drawn per class (every class keeps the same proportion,
        rounded) by a generator seeded with ``seed``, so the same arguments always hold out the
        same samples; ``train`` keeps the rest and ``test`` is unchanged. A data set that
        already has a validation split is refused.
        """
        if self.has_valid:
            raise ValueError(f"Dataset {self.name!r} already has a 'valid' split.")
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise ValueError(f"with_validation: fraction must be a number; got {fraction!r}.")
        if not 0.0 < fraction < 1.0:
            raise ValueError(
                f"with_validation: fraction must lie strictly between 0 and 1; got {fraction!r}."
            )
        kept, held = _stratified_split(self.y_train.numpy(), fraction, seed)
        if len(held) == 0 or len(kept) == 0:
            raise ValueError(
                f"with_validation: fraction {fraction} of {len(self.y_train)} training samples "
                "leaves the train or the valid split empty."
            )
        kept_idx, held_idx = torch.as_tensor(kept), torch.as_tensor(held)
        return dataclasses.replace(
            self,
            x_train=self.x_train[kept_idx].contiguous(),
            y_train=self.y_train[kept_idx],
            x_valid=self.x_train[held_idx].contiguous(),
            y_valid=self.y_train[held_idx],
        )

    def loader(
        self,
        split: str,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int = 0,
        indices: Sequence[int] | np.ndarray | None = None,
    ) -> DataLoader:
        """A ``DataLoader`` of ``(x, y)`` batches over ``split``.

        Batches are gathered with one index operation each; with ``shuffle`` the order is drawn
        from a generator seeded with ``seed``, so the same seed gives the same batches. With
        ``indices`` the batches read those examples in that order instead (repeats allowed, as
        :func:`weighted_indices` draws them).
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(
                f"Dataset.loader: batch_size must be a positive int; got {batch_size!r}."
            )
        x, y = self.tensors(split)
        dataset = TensorDataset(x, y)
        if indices is not None:
            if shuffle:
                raise ValueError("Dataset.loader: give shuffle=True or indices, not both.")
            order = np.asarray(indices)
            if order.ndim != 1 or not np.issubdtype(order.dtype, np.integer):
                raise ValueError("Dataset.loader: indices must be a 1-D sequence of ints.")
            if len(order) and not (0 <= order.min() and order.max() < len(y)):
                raise ValueError(
                    f"Dataset.loader: indices must lie in [0, {len(y)}) for split {split!r}."
                )
            sampler = order.tolist()
        elif shuffle:
            generator = torch.Generator().manual_seed(seed)
            sampler = RandomSampler(dataset, generator=generator)
        else:
            sampler = SequentialSampler(dataset)
        batches = BatchSampler(sampler, batch_size=batch_size, drop_last=False)
        return DataLoader(dataset, sampler=batches, batch_size=None)


def shuffled_indices(size: int, seed: int) -> np.ndarray:
    """The order ``Dataset.loader(shuffle=True, seed=seed)`` reads ``size`` examples in."""
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed)).numpy()


def weighted_indices(weights: Sequence[float] | np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` example indices drawn with replacement, index ``i`` with probability
    ``weights[i]`` (importance sampling of training data), from a generator seeded with
    ``seed``; ``weights`` must be non-negative and sum to 1."""
    p = np.asarray(weights, dtype=float)
    if p.ndim != 1 or not len(p) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise ValueError(
            "weighted_indices: weights must be a non-empty 1-D array of non-negative "
            f"probabilities summing to 1; got shape {p.shape}, sum {p.sum() if p.size else 0}."
        )
    return np.random.default_rng(seed).choice(len(p), size=count, replace=True, p=p / p.sum())


def resized(data: Dataset, size: int) -> Dataset:
    """``data`` with its images average-pooled to ``size`` x ``size`` (a cheaper proxy task:
    NAS-Bench-201's 32x32 CIFAR-10 at 8 or 16 pixels); unchanged if already that size."""
    if len(data.input_shape) != 3:
        raise ValueError(f"resized: expected images (C, H, W); got input_shape {data.input_shape}.")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= data.input_shape[-1]:
        raise ValueError(
            f"resized: size must be an int in [1, {data.input_shape[-1]}]; got {size!r}."
        )
    if data.input_shape[-1] == size and data.input_shape[-2] == size:
        return data

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, size).contiguous()

    return Dataset(
        pool(data.x_train),
        data.y_train,
        pool(data.x_test),
        data.y_test,
        data.num_classes,
        (data.input_shape[0], size, size),
        f"{data.name}-{size}px",
        x_valid=None if data.x_valid is None else pool(data.x_valid),
        y_valid=data.y_valid,
    )


def validation_split(
    data: Dataset, fraction: float = 0.2, seed: int = 0
) -> tuple[Dataset, Dataset]:
    """``(train, validation)``: ``fraction`` of ``data``'s training samples held out.

    ``train`` keeps the rest of the training samples and ``data``'s test split; ``validation``
    has the same training samples and the held-out part as its test split, so the test split of
    ``data`` stays untouched for final figures. DARTS's "train/val halves of the training data"
    is ``validation_split(data, 0.5)``.
    """
    if isinstance(fraction, bool) or not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie strictly between 0 and 1; got {fraction!r}.")
    n = len(data.y_train)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(round(n * fraction))
    if not 0 < cut < n:
        raise ValueError(f"fraction {fraction} of {n} training samples leaves a split empty.")
    held, kept = order[:cut], order[cut:]
    common = {"num_classes": data.num_classes, "input_shape": data.input_shape}
    train_part = Dataset(
        data.x_train[kept],
        data.y_train[kept],
        data.x_test,
        data.y_test,
        name=f"{data.name}-train",
        **common,
    )
    validation = Dataset(
        data.x_train[kept],
        data.y_train[kept],
        data.x_train[held],
        data.y_train[held],
        name=f"{data.name}-val",
        **common,
    )
    return train_part, validation


def load_dataset(data: Dataset | str, folder: str | Path | None = None) -> Dataset:
    """``data`` itself, or the registered data set it names.

    A loader that reads files (``mnist``, ``cifar10_subset``, ``fsdd``) takes its folder from
    ``folder`` or after a colon in the name (``"cifar10_subset:../shared/data/cifar10_subset"``).
    """
    if isinstance(data, Dataset):
        return data
    if not isinstance(data, str):
        raise ValueError(
            f"data must be a programs.data.Dataset or one of {DATASETS.names()} (with ':FOLDER' "
            f"for a data set read from files); got {data!r}."
        )
    name, _, named_folder = data.partition(":")
    entry = DATASETS.get(name)
    if not entry.meta["folder"]:
        return entry.obj()
    folder = named_folder or folder
    if not folder:
        raise ValueError(f"data {data!r}: give the folder as '{name}:FOLDER'.")
    return entry.obj(folder)


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1; got {test_fraction!r}.")


def _stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with every class split in the same proportion."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(members) * test_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _prepare_images(
    images: torch.Tensor, resize: Sequence[int] | None, channels: int
) -> torch.Tensor:
    """Resizes (bilinear) and replicates a single-channel NCHW batch to ``channels`` channels."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}.")
    if resize is not None:
        size = tuple(resize)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"resize must be a pair of positive ints (H, W); got {resize!r}.")
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
    return images.repeat(1, channels, 1, 1) if channels == 3 else images


def _image_dataset(
    images: torch.Tensor,
    labels: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    mean: float,
    std: float,
    name: str,
) -> Dataset:
    x = (images - mean) / std
    y = torch.as_tensor(labels, dtype=torch.int64)
    return Dataset(
        x_train=x[train_idx].contiguous(),
        y_train=y[train_idx],
        x_test=x[test_idx].contiguous(),
        y_test=y[test_idx],
        num_classes=int(labels.max()) + 1,
        input_shape=tuple(x.shape[1:]),
        name=name,
    )


@DATASETS.register(
    "digits", "scikit-learn's 8x8 digits (1,797 images, 10 classes), offline", folder=False
)
def digits(
    resize: Sequence[int] | None = None,
    test_fraction: float = 1 / 3,
    seed: int = 0,
    channels: int = 1,
) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes), offline.

    Pixels are scaled to [0, 1], optionally resized to ``resize=(H, W)`` (bilinear) and
    replicated to ``channels=3``, then standardised with the mean and standard deviation of the
    training images. The split is stratified and fixed by ``seed`` (1,198 train / 599 test by
    default). Shape ``(N, channels, H, W)``.
    """
    from sklearn.datasets import load_digits

    _check_fraction(test_fraction)
    bunch = load_digits()
    labels = bunch.target.astype(np.int64)
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = _prepare_images(images, resize, channels)
    train_idx, test_idx = _stratified_split(labels, test_fraction, seed)
    train_images = images[train_idx]
    mean, std = float(train_images.mean()), float(train_images.std())
    return _image_dataset(images, labels, train_idx, test_idx, mean, std, "digits")


def _read_idx(path: Path) -> np.ndarray:
    """Reads a (gzipped) IDX file of unsigned bytes into an array of its declared shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"mnist: {path} is not an IDX file of unsigned bytes.")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


@DATASETS.register(
    "mnist", "the official MNIST test set (10,000 28x28 images) split in two", folder=True
)
def mnist(
    root: str | Path,
    resize: Sequence[int] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    channels: int = 1,
) -> Dataset:
    """The official MNIST test set (10,000 images of 28x28) split into train and test parts.

    ``root`` holds ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``. The split is
    stratified and fixed by ``seed``; pixels are normalised with the usual MNIST mean and
    standard deviation (0.1307, 0.3081) after optional resizing and channel replication.
    """
    _check_fraction(test_fraction)
    root = Path(root)
    files = [root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz"]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"mnist: expected the IDX files {missing} under {root}.")
    raw_images, raw_labels = (_read_idx(p) for p in files)
    labels = raw_labels.astype(np.int64)
    images = torch.as_tensor(raw_images, dtype=torch.float32).unsqueeze(1) / 255.0
    images = _prepare_images(images, resize, channels)
    train_idx, test_idx = _stratified_split(labels, test_fraction, seed)
    return _image_dataset(images, labels, train_idx, test_idx, MNIST_MEAN, MNIST_STD, "mnist")


@DATASETS.register(
    "cifar10_subset", "CIFAR-10, 100 images per class (1,000 train, 1,000 test)", folder=True
)
def cifar10_subset(root: str | Path) -> Dataset:
    """The CIFAR-10 subset of 100 images per class in ``root`` (1,000 train, 1,000 test).

    Reads ``cifar10_jpg_{train,test}_100pc.npz`` (``x`` uint8 NHWC, ``y``) and returns float
    NCHW tensors normalised with NAS-Bench-201's CIFAR-10 channel mean and std.
    """
    root = Path(root)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    tensors = {}
    for split in ("train", "test"):
        path = root / f"cifar10_jpg_{split}_100pc.npz"
        if not path.is_file():
            raise FileNotFoundError(f"cifar10_subset: expected {path} (x uint8 NHWC, y labels).")
        with np.load(path) as archive:
            x = torch.as_tensor(archive["x"]).permute(0, 3, 1, 2).float() / 255.0
            tensors[split] = ((x - mean) / std, torch.as_tensor(archive["y"], dtype=torch.int64))
    return Dataset(
        x_train=tensors["train"][0].contiguous(),
        y_train=tensors["train"][1],
        x_test=tensors["test"][0].contiguous(),
        y_test=tensors["test"][1],
        num_classes=10,
        input_shape=(3, 32, 32),
        name="cifar10_subset",
    )


def synthetic(
    n: int,
    input_shape: Sequence[int],
    num_classes: int,
    seed: int = 0,
    test_fraction: float = 0.25,
    noise: float = 1.0,
) -> Dataset:
    """Learnable random data: each class is a Gaussian around its own random mean.

    Class means are standard normal; samples add ``noise``-scaled standard normal noise, so a
    model can beat chance by learning the means. ``n`` samples in all, the last
    ``test_fraction`` of them held out. The same arguments give the same tensors.
    """
    _check_fraction(test_fraction)
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"synthetic: n must be an int >= 2; got {n!r}.")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"synthetic: num_classes must be an int >= 2; got {num_classes!r}.")
    shape = tuple(input_shape)
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"synthetic: input_shape must be positive ints; got {input_shape!r}.")
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn((num_classes, *shape), generator=generator)
    y = torch.randint(0, num_classes, (n,), generator=generator)
    x = means[y] + noise * torch.randn((n, *shape), generator=generator)
    n_test = max(1, int(round(n * test_fraction)))
    return Dataset(
        x_train=x[:-n_test],
        y_train=y[:-n_test],
        x_test=x[-n_test:],
        y_test=y[-n_test:],
        num_classes=num_classes,
        input_shape=shape,
        name="synthetic",
    )


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """Triangular filters equally spaced on the HTK mel scale from 0 Hz to Nyquist.

    Returns an array of shape ``(n_mels, n_fft // 2 + 1)`` that maps a power spectrum to mel
    band energies; each filter peaks at 1 at its centre frequency.
    """
    if not isinstance(n_mels, int) or n_mels < 1:
        raise ValueError(f"mel_filterbank: n_mels must be a positive int; got {n_mels!r}.")
    edges_hz = _mel_to_hz(np.linspace(0.0, _hz_to_mel(sample_rate / 2), n_mels + 2))
    bins_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz - lower) / (centre - lower)
    falling = (upper - bins_hz) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(
    signal: np.ndarray,
    sample_rate: int,
    n_mels: int = 30,
    win_ms: float = 25.0,
    hop_ms: float = 10.0,
    preemphasis: float = 0.97,
) -> np.ndarray:
    """Log mel filterbank energies of a mono signal, shape ``(n_mels, frames)``.

    Pre-emphasis, ``win_ms`` Hamming windows every ``hop_ms`` (a signal shorter than one window
    is zero-padded to one frame), power spectrum on the next power-of-two FFT size, mel filters
    from ``mel_filterbank``, natural log with a floor of 1e-10.
    """
    win = int(round(sample_rate * win_ms / 1000))
    hop = int(round(sample_rate * hop_ms / 1000))
    n_fft = 1 << (win - 1).bit_length()
    x = np.asarray(signal, dtype=np.float64)
    x = np.append(x[:1], x[1:] - preemphasis * x[:-1])
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n_frames = 1 + (len(x) - win) // hop
    index = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = x[index] * np.hamming(win)
    power = np.abs(np.fft.rfft(frames, n=n_fft)) ** 2 / n_fft
    energies = power @ mel_filterbank(n_mels, n_fft, sample_rate).T
    return np.log(np.maximum(energies, 1e-10)).T


def _fit_frames(features: np.ndarray, frames: int) -> np.ndarray:
    """Subtracts the per-band mean over time, then crops or zero-pads to ``frames`` frames."""
    features = features - features.mean(axis=1, keepdims=True)
    if features.shape[1] >= frames:
        return features[:, :frames]
    return np.pad(features, ((0, 0), (0, frames - features.shape[1])))


def _fsdd_files(recordings: Path) -> list[tuple[Path, int, str, int]]:
    """``(path, digit, speaker, index)`` for every FSDD wav file, sorted by file name."""
    if not recordings.is_dir():
        raise FileNotFoundError(
            f"fsdd: expected a folder of recordings/*.wav named digit_speaker_index.wav; "
            f"{recordings} does not exist."
        )
    files = []
    for path in sorted(recordings.glob("*.wav")):
        match = _FSDD_NAME.match(path.name)
        if match is None:
            raise ValueError(f"fsdd: {path.name} is not named digit_speaker_index.wav.")
        files.append((path, int(match[1]), match[2], int(match[3])))
    if not files:
        raise FileNotFoundError(
            f"fsdd: no recordings/*.wav files (digit_speaker_index.wav) in {recordings}."
        )
    return files


def _fsdd_features(
    files: list[tuple[Path, int, str, int]], n_mels: int, n_mfcc: int | None, frames: int
) -> np.ndarray:
    out = np.empty((len(files), n_mfcc or n_mels, frames), dtype=np.float32)
    for i, (path, *_) in enumerate(files):
        rate, signal = scipy.io.wavfile.read(path)
        if signal.ndim != 1:
            raise ValueError(f"fsdd: {path} is not mono (shape {signal.shape}).")
        features = log_mel(signal.astype(np.float64) / 32768.0, rate, n_mels=n_mels)
        if n_mfcc is not None:
            features = scipy.fft.dct(features, type=2, axis=0, norm="ortho")[:n_mfcc]
        out[i] = _fit_frames(features, frames)
    return out


def _cache_key(files: list[tuple[Path, int, str, int]], settings: str) -> str:
    digest = hashlib.sha256(settings.encode())
    for path, *_ in files:
        digest.update(f"{path.name}:{path.stat().st_size};".encode())
    return digest.hexdigest()[:16]


@DATASETS.register(
    "fsdd", "Free Spoken Digit Dataset log-mel features, speaker labels", folder=True
)
def fsdd(
    root: str | Path,
    n_mels: int = 30,
    n_mfcc: int | None = None,
    frames: int = 100,
    task: str = "speaker",
    cache_dir: str | Path | None = None,
    cache: bool = True,
) -> Dataset:
    """Free Spoken Digit Dataset features, shape ``(N, n_mels or n_mfcc, frames)``.

    ``root`` holds ``recordings/{digit}_{speaker}_{index}.wav`` (8 kHz mono). Each recording
    becomes log mel energies (``log_mel``: 25 ms Hamming windows, 10 ms hop, ``n_mels`` bands),
    optionally the first ``n_mfcc`` orthonormal DCT-II coefficients of them (MFCC), with the
    per-utterance mean of every band removed, cropped or zero-padded to ``frames``.
    ``task="speaker"`` labels each recording by its speaker (index in sorted speaker names);
    ``task="digit"`` by the spoken digit. The upstream split is kept: recordings with index 0-4
    are the test set. Features are cached as ``<cache_dir>/fsdd-<hash>.npz`` (default
    ``~/.cache/symnas``), keyed on the file list and the feature settings.
    """
    if task not in FSDD_TASKS:
        raise ValueError(f"fsdd: task must be one of {FSDD_TASKS}; got {task!r}.")
    if not isinstance(n_mels, int) or n_mels < 1:
        raise ValueError(f"fsdd: n_mels must be a positive int; got {n_mels!r}.")
    if n_mfcc is not None and (not isinstance(n_mfcc, int) or not 1 <= n_mfcc <= n_mels):
        raise ValueError(f"fsdd: n_mfcc must be None or an int in [1, n_mels]; got {n_mfcc!r}.")
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"fsdd: frames must be a positive int; got {frames!r}.")
    files = _fsdd_files(Path(root) / "recordings")
    settings = f"log_mel-v1;n_mels={n_mels};n_mfcc={n_mfcc};frames={frames}"
    cache_root = Path(cache_dir) if cache_dir is not None else Path.home() / ".cache" / "symnas"
    cache_path = cache_root / f"fsdd-{_cache_key(files, settings)}.npz"
    if cache and cache_path.is_file():
        with np.load(cache_path) as archive:
            features = archive["features"]
    else:
        features = _fsdd_features(files, n_mels, n_mfcc, frames)
        if cache:
            write_atomic(cache_path, lambda f: np.savez(f, features=features))
    speakers = sorted({speaker for _, _, speaker, _ in files})
    if task == "speaker":
        labels = np.array([speakers.index(s) for _, _, s, _ in files], dtype=np.int64)
        num_classes = len(speakers)
    else:
        labels = np.array([digit for _, digit, _, _ in files], dtype=np.int64)
        num_classes = 10
    is_test = np.array([index <= 4 for *_, index in files])
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    return Dataset(
        x_train=x[~is_test].contiguous(),
        y_train=y[~is_test],
        x_test=x[is_test].contiguous(),
        y_test=y[is_test],
        num_classes=num_classes,
        input_shape=tuple(features.shape[1:]),
        name=f"fsdd-{task}",
    )
