"""CIFAR benchmarks on the real data: stream layout, local labels, batches, validation split."""

import pytest
import torch
from torchvision.datasets import CIFAR10, CIFAR100

from hypercl.config import BenchmarkName, ConfigError, Normalize
from hypercl.data.cifar import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageTaskData,
    local_labels,
    split_cifar,
)
from hypercl.data.tasks import with_validation


@pytest.fixture(scope="module")
def cifar10_100(cifar_dir):
    """The first 3 tasks of split_cifar10_100 (all of CIFAR-10, CIFAR-100 classes 0-19)."""
    return split_cifar(BenchmarkName.split_cifar10_100, cifar_dir, num_tasks=3)


def _raw_first_image_of_class(dataset, cls: int) -> torch.Tensor:
    """[3, 32, 32] uint8: the first image of class ``cls`` in torchvision's order."""
    idx = dataset.targets.index(cls)
    return torch.from_numpy(dataset.data[idx]).permute(2, 0, 1)


def test_split_cifar10_100_tasks_and_local_labels(cifar10_100, cifar_dir):
    bench = cifar10_100
    assert (bench.name, bench.num_tasks, bench.head_size) == ("split_cifar10_100", 3, 10)
    assert bench.input_shape == (3, 32, 32)
    sizes = [(len(t.y_train), len(t.y_test)) for t in bench.tasks]
    assert sizes == [(50000, 10000), (5000, 1000), (5000, 1000)]
    for task in bench.tasks:
        assert task.x_train.dtype == torch.uint8
        n_per_class = len(task.y_train) // 10
        assert torch.bincount(task.y_train).tolist() == [n_per_class] * 10
        assert torch.bincount(task.y_test).tolist() == [len(task.y_test) // 10] * 10
    # Local label k of task t is class k of CIFAR-10 (t = 0) or class 10(t-1)+k of CIFAR-100.
    c10 = CIFAR10(str(cifar_dir), train=True, download=False)
    c100 = CIFAR100(str(cifar_dir), train=False, download=False)
    task0, task2 = bench.tasks[0], bench.tasks[2]
    assert torch.equal(task0.x_train[task0.y_train == 7][0], _raw_first_image_of_class(c10, 7))
    assert torch.equal(task2.x_test[task2.y_test == 3][0], _raw_first_image_of_class(c100, 13))


def test_image_batches_are_scaled_and_normalised_and_augmented_only_in_training(cifar10_100):
    task = cifar10_100.tasks[1]
    idx = torch.tensor([0, 10, 4999])
    x, y = task.train_batch(idx)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    expected = (task.x_train[idx].float() / 255 - mean) / std
    torch.testing.assert_close(x, expected, rtol=0, atol=0)
    assert torch.equal(y, task.y_train[idx])
    x_test, _ = next(task.test_batches(3))
    augmenting = ImageTaskData(**{**task.__dict__, "augment": True})
    x_test_aug, _ = next(augmenting.test_batches(3))
    torch.testing.assert_close(x_test_aug, x_test, rtol=0, atol=0)  # never at test time
    torch.manual_seed(0)
    x_aug, _ = augmenting.train_batch(torch.arange(64))
    assert x_aug.shape == (64, 3, 32, 32)
    assert not torch.equal(x_aug, task.train_batch(torch.arange(64))[0])


@pytest.mark.parametrize("normalize", [Normalize.none, Normalize.imagenet])
def test_official_input_scalings(normalize, cifar_dir):
    """The official code's two scalings: [0, 1] only (its ZenkeNet runs, no augmentation) and
    ImageNet's channel statistics (its ResNet-32 runs, which augment)."""
    bench = split_cifar(BenchmarkName.split_cifar10_100, cifar_dir, 1, normalize=normalize)
    task, idx = bench.tasks[0], torch.tensor([0, 49999])
    x, _ = task.train_batch(idx)
    expected = task.x_train[idx].float() / 255
    if normalize == Normalize.imagenet:
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        expected = (expected - mean) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x, expected, rtol=0, atol=0)


def test_validation_split_is_disjoint_and_leaves_the_test_set(cifar10_100):
    bench = with_validation(cifar10_100, 0.1, seed=0)
    for before, after in zip(cifar10_100.tasks, bench.tasks, strict=True):
        n = len(before.y_train)
        assert (len(after.y_train), len(after.y_val)) == (n - n // 10, n // 10)
        assert torch.equal(after.x_test, before.x_test)
        both = torch.cat([after.x_train, after.x_val]).flatten(1)
        # The union is the original training set: same images, none lost or repeated.
        key = lambda x: x.long().sum(1) * 7 + x[:, :5].long().sum(1)  # noqa: E731
        assert torch.equal(key(both).sort().values, key(before.x_train.flatten(1)).sort().values)
    val = bench.tasks[1].validation()
    assert torch.equal(val.x_test, bench.tasks[1].x_val) and val.x_val is None


def test_validation_fraction_that_empties_a_set_is_a_config_error(cifar10_100):
    with pytest.raises(ConfigError, match=r"train.val_fraction=1.0 is invalid: it leaves 0 train"):
        with_validation(cifar10_100, 1.0, seed=0)


def test_split_cifar10_has_five_two_class_tasks_with_local_labels(cifar_dir):
    bench = split_cifar(BenchmarkName.split_cifar10, cifar_dir, 5, test_subset=200)
    assert (bench.num_tasks, bench.head_size) == (5, 2)
    c10 = CIFAR10(str(cifar_dir), train=True, download=False)
    for t, task in enumerate(bench.tasks):
        assert torch.bincount(task.y_train).tolist() == [5000, 5000]
        assert len(task.y_test) == 200 and set(task.y_test.tolist()) == {0, 1}
        assert torch.equal(
            task.x_train[task.y_train == 1][0], _raw_first_image_of_class(c10, 2 * t + 1)
        )


@pytest.mark.parametrize(
    "name,num_tasks,message",
    [
        ("split_cifar10_100", 12, "split_cifar10_100 has 1 to 11 tasks"),
        ("split_cifar100", 0, "split_cifar100 has 1 to 10 tasks"),
        ("split_cifar10", 6, "split_cifar10 has 1 to 5 tasks"),
    ],
)
def test_too_many_tasks_is_a_config_error(tmp_path, name, num_tasks, message):
    with pytest.raises(ConfigError, match=f"benchmark.num_tasks={num_tasks} is invalid: {message}"):
        split_cifar(BenchmarkName(name), tmp_path, num_tasks)


def test_local_labels_are_positions_in_the_sorted_class_list():
    y = torch.tensor([12, 10, 19, 15])
    assert local_labels(y, [19, 18, 17, 16, 15, 14, 13, 12, 11, 10]).tolist() == [2, 0, 9, 5]
    with pytest.raises(ValueError, match="labels outside the experience's classes"):
        local_labels(torch.tensor([3]), [4, 5])


def test_corrupt_cifar_file_with_download_off_is_named_and_nothing_is_downloaded(
    tmp_path, cifar_dir, monkeypatch
):
    """data_download=false: a truncated data_batch_3 is a DataError naming it (Avalanche
    would call torchvision with download=True, which blames the network instead)."""
    import torchvision.datasets.cifar

    from hypercl.config import BenchmarkConfig
    from hypercl.data.benchmarks import build_benchmark
    from hypercl.errors import DataError

    def no_download(*args, **kwargs):
        raise AssertionError("torchvision was asked to download with data_download=false")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", no_download)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for src in (cifar_dir / "cifar-10-batches-py").iterdir():  # intact files: links, no copy
        (folder / src.name).symlink_to(src)
    batch = folder / "data_batch_3"
    batch.unlink()
    batch.write_bytes((cifar_dir / "cifar-10-batches-py" / "data_batch_3").read_bytes()[:100_000])
    with pytest.raises(DataError) as err:
        build_benchmark(BenchmarkConfig(name=BenchmarkName.split_cifar10), tmp_path, False)
    assert str(err.value) == (
        f"split_cifar10 cannot use CIFAR-10: 1 file(s) are corrupt or incomplete (md5 mismatch): "
        f"{batch}. Delete {folder} and run with data_download=true to download it again, or "
        "copy intact files there."
    )
