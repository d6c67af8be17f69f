"""TensorFlow set-up: the compute policy a training takes from the config and the CPU."""


def test_the_compute_policy_follows_the_keys_and_the_cpu(tmp_path):
    from workflow_scripts.tfsetup import compute_policy, cpu_has_amx

    # (precision, model, on a GPU, train.mixed_precision, CPU has AMX) -> policy
    cases = {
        ("float32", "B", False, False, True): "float32",
        ("bfloat16", "A", False, False, False): "mixed_bfloat16",
        ("auto", "B", False, False, True): "mixed_bfloat16",
        ("auto", "A", False, False, True): "float32",  # A's small convolutions are slower in bfloat16
        ("auto", "B", False, False, False): "float32",
        ("auto", "B", True, False, True): "float32",  # auto is for CPUs: a GPU run asks explicitly
        ("bfloat16", "A", True, True, True): "mixed_float16",  # on a GPU, mixed_precision wins
        ("float32", "A", False, True, True): "float32",  # mixed_precision is ignored on a CPU
    }
    assert {k: compute_policy(*k) for k in cases} == cases
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert not cpu_has_amx(str(info))  # bfloat16 without AMX: auto was not measured there
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16\n")
    assert cpu_has_amx(str(info)) and not cpu_has_amx(str(tmp_path / "none"))


def test_the_cpu_name_is_the_first_model_name_line(tmp_path):
    import platform

    from workflow_scripts.tfsetup import cpu_name

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core Processor\nprocessor\t: 1\n"
                    "model name\t: AMD EPYC 9R14 96-Core Processor\n")  # fmt: skip
    assert cpu_name(str(info)) == "AMD EPYC 9R14 96-Core Processor"
    assert cpu_name(str(tmp_path / "none")) == (platform.processor() or platform.machine())
