"""torch F.linear (FP16 in and out, cuBLAS through PyTorch) on the 8B decoder's projection shapes at 64..512 rows:
the same-run reference for the decode step's projections at large batches (step-device.sh). Three copies of each
weight rotate so that the 50 MB L2 does not serve them. Prints torch_linear_<shape>_m<M>_us / _tflops lines."""
import torch
import torch.nn.functional as F

SHAPES = {"qkv": (6144, 4096), "o": (4096, 4096), "gate_up": (28672, 4096), "down": (4096, 14336), "lm_head": (32000, 4096)}


def main():
    torch.manual_seed(0)
    dev = "cuda"
    for name, (out, inp) in SHAPES.items():
        ws = [torch.randn(out, inp, device=dev, dtype=torch.float16) * 0.02 for _ in range(3)]
        for m in (64, 128, 256, 512):
            x = torch.randn(m, inp, device=dev, dtype=torch.float16)
            for i in range(5):
                F.linear(x, ws[i % 3])
            reps = 30
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            times = []
            for _ in range(3):
                torch.cuda.synchronize()
                start.record()
                for i in range(reps):
                    F.linear(x, ws[i % 3])
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / reps)
            ms = sorted(times)[1]
            print(f"torch_linear_{name}_m{m}_us={ms * 1e3:.2f}")
            print(f"torch_linear_{name}_m{m}_tflops={2.0 * m * inp * out / ms / 1e9:.1f}")
        del ws
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
