"""TensorFlow set-up shared by training, evaluation and prediction, without importing any of them."""

from __future__ import annotations

import os


class NoGPUError(RuntimeError):
    """A job that holds a GPU (train.require_gpu) found none: it would train on the CPU for hours."""


def configure_tensorflow(threads: int | None = None) -> None:
    """Environment that must be set before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN kernels: about 1.5x faster for Model A on this project's CPUs.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def cpu_has_amx(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU has AMX's bfloat16 tiles (Intel Xeons since Sapphire Rapids), which oneDNN uses.
    (AVX512-BF16 without AMX, as on AMD Zen 4, does bfloat16 too; `auto` was measured on AMX only.)"""
    try:
        with open(cpuinfo) as f:
            flags = {w for line in f if line.startswith("flags") for w in line.split()}
    except OSError:  # not Linux
        return False
    return "amx_bf16" in flags


def cpu_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name, as benchmarks and docs print it (the machine's architecture if not Linux)."""
    import platform

    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# Where `train.precision: auto` takes bfloat16 on an AMX CPU: Model B's large VGG16 convolutions ran
# several times faster in bfloat16, Model A's small ones slower (docs/benchmarks.md).
AUTO_BFLOAT16 = {"A": False, "B": True}


def compute_policy(precision: str, model: str, on_gpu: bool, gpu_mixed: bool, has_amx: bool) -> str:
    """Keras' dtype policy of a training: `train.mixed_precision` on a GPU, else `train.precision`."""
    if on_gpu and gpu_mixed:
        return "mixed_float16"
    auto = precision == "auto" and not on_gpu and has_amx and AUTO_BFLOAT16[model]
    return "mixed_bfloat16" if precision == "bfloat16" or auto else "float32"


def visible_gpus(require: bool = False) -> list:
    """The GPUs TensorFlow sees, with memory growth on; with `require`, none is an error."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if require and not gpus:
        build = "a CPU-only build" if not tf.test.is_built_with_cuda() else "a CUDA build"
        raise NoGPUError(
            f"train.require_gpu is set but TensorFlow {tf.__version__} ({build}) sees no GPU "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}). Install the GPU "
            "build (pip install -e '.[gpu]', or deploy with envs/workflow-gpu.yaml), request a GPU from "
            "the scheduler, or set train.require_gpu: false to train on the CPU."
        )
    for g in gpus:
        tf.config.experimental.set_memory_growth(g, True)
    return gpus
