"""benchmarks/bench_gpu.py on a machine without CUDA: a clear message and status 2 before any
work (the GPU run itself is a benchmark, recorded in benchmarks/README.md)."""

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_gpu.py"


@pytest.fixture
def bench_gpu(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # its sibling bench_scale.py
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_exits_with_the_reason(bench_gpu, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ran = []
    monkeypatch.setattr(bench_gpu, "run_tests", lambda: ran.append("tests"))
    monkeypatch.setattr(bench_gpu, "run_problem", lambda *a: ran.append("problem"))
    out = tmp_path / "gpu.json"
    with pytest.raises(SystemExit) as exc:
        bench_gpu.main(["--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "needs a CUDA device" in err and "torch.cuda.is_available() is False" in err
    assert "Nothing was run" in err
    assert ran == [] and not out.exists()


def test_without_torch_it_says_how_to_install_it(bench_gpu, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(SystemExit) as exc:
        bench_gpu.require_cuda()
    assert exc.value.code == 2
    assert 'pip install "linrfm[torch]"' in capsys.readouterr().err


def test_a_problem_record_on_the_cpu(bench_gpu, monkeypatch):
    # the record-keeping of a GPU run, on a tiny problem with torch on the CPU (the CUDA
    # calls are no-ops here): times, errors, targets and the plan are all filled in
    for name in ("synchronize", "reset_peak_memory_stats"):
        monkeypatch.setattr(torch.cuda, name, lambda: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: 123)
    monkeypatch.setitem(bench_gpu.PROBLEMS, "tiny", dict(n=60, d=50, rank=2, n_obs=1500))
    monkeypatch.setattr(bench_gpu, "TARGETS", (1e-1, 1e-2))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny problem: more threads only add overhead
    try:
        rec = bench_gpu.run_problem(torch, "tiny", 60.0, 2**30, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert rec["problem"] == "tiny" and rec["plan"]["variant"] in ("one-sided", "two-sided")
    assert rec["iterations"] == len(rec["trace"]) >= 1
    times = [t for t, _ in rec["trace"]]
    assert times == sorted(times) and rec["s_per_iter"] > 0
    first = next(i for i, (_, e) in enumerate(rec["trace"]) if e <= 1e-1)
    hit = rec["to_0.1"]
    assert hit["iteration"] == first + 1
    assert hit["seconds"] == pytest.approx(rec["trace"][first][0], abs=1e-3)
    assert rec["final_err"] == rec["trace"][-1][1] and rec["peak_device_bytes"] == 123
