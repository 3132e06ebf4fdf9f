"""The experiment exercises' runs over a grid of settings: what their targets and model answers rest on.

Exercises 3.4, 4.3-4.4, 5.4, 6.4 and 8.4/8.6 train a small fixed model with the learner's setting
and score it on held-out validation digits (`aecourse.checks.core.validation_digits`: MNIST
training images 50,000 to 59,999, which no experiment trains on; the test set is left for the
lessons' final numbers). This script runs each experiment's own training function, the one its
check calls, over a grid of settings around the solution's, so that anyone can see where each
target lies, which settings pass, and where the numbers quoted in the solutions' model answers
come from. The results are cached by the checks, so each setting trains once per run.

Measured on a 2-core CPU (torch 2.13 CPU build), `standard` mode, 22 s for the whole grid:

- 3.4 (mean activation within 10 % of rho = 0.1): beta 10 gives 0.1205 (error 24.3), 20 gives
  0.1098, 30 (the solution) 0.1061 (error 30.3), 300 gives 0.0940 (error 46.1).
- 4.3: the denoiser trained at s = 0.5 is worse than its noisy input at s = 0.05 to 0.2 and better
  from 0.3 on; its output stays between 12.3 and 14.1 dB.
- 4.4 (16 dB): lr 0.001 reaches 14.09, 0.01 16.32, 0.02 16.82, 0.03 (the solution) 16.36, 0.05 9.68.
- 5.4 (mean ||J_f||_F < 1.45 and squared error < 47.5): lambda 0 gives 2.30 / 46.05, 0.3 gives
  1.486 / 46.76, 0.4 gives 1.406 / 46.95, 0.5 (the solution) 1.34 / 47.12, 0.7 1.235 / 47.43,
  1 gives 1.118 / 47.83.
- 6.4 (squared error < 26): lr 0.001 gives 39.95, 0.005 26.09, 0.01 (the solution) 24.13,
  0.03 45.81; before fine-tuning 77.47, the mean image 51.32.
- 8.4/8.6 (KL 3.0 nats within 10 %; the same in every mode): beta 1 gives a KL of 9.03 nats
  (reconstruction 188.3), 2.5 gives 3.54, 2.65 (the solution) 3.02, 2.8 2.74, 4 gives 1.55 (214.2).

    AECOURSE_MODE=standard python benchmarks/exercise_experiments.py        # every experiment
    AECOURSE_MODE=standard python benchmarks/exercise_experiments.py 5 6    # exercises 5.4 and 6.4
    AECOURSE_MODE=smoke python benchmarks/exercise_experiments.py           # CI's mode, a few seconds
"""

from __future__ import annotations

import argparse
import time

from aecourse.checks import lesson03, lesson04, lesson05, lesson06, lesson08
from aecourse.config import get_mode

LESSONS = ("3", "4", "5", "6", "8")


def sparse_3_4() -> None:
    """Exercise 3.4: beta against the mean hidden activation (target rho = 0.1 within 10 %)."""
    rho, tol = lesson03.RHO_3_4, lesson03.TOLERANCE_3_4
    print(f"3.4 budget {lesson03.budget_3_4()} | target (standard) rho = {rho} ± {tol:.0%}")
    for beta in (0, 3, 10, 20, 30, 50, 100, 300):
        r = lesson03.train_sparse_3_4(float(beta))
        print(f"  beta {beta:>4g}: mean activation {r['mean activation']:.4f}, squared error {r['error']:.2f}")


def denoiser_4_3_4_4() -> None:
    """Exercises 4.3 (the noise sweep) and 4.4: the learning rate against the PSNR on masked digits."""
    print(f"4.3 budget {lesson04.dae_budget()}")
    for s, (noisy, out) in lesson04.noise_sweep_4_3().items():
        print(f"  s {s:4.2f}: noisy input {noisy:5.2f} dB, output {out:5.2f} dB"
              f"{'  (output worse)' if out < noisy else ''}")
    print(f"4.4 target {lesson04.target_4_4():.1f} dB")
    for lr in (1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 5e-2, 0.1):
        r = lesson04.masked_psnr_4_4(lr)
        print(f"  lr {lr:>6g}: masked input {r['input']:.2f} dB, output {r['output']:.2f} dB")


def contractive_5_4() -> None:
    """Exercise 5.4: lambda against the mean Jacobian norm and the squared error."""
    b = lesson05.cae_budget()
    print(f"5.4 budget {b}")
    for lam in (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 2.0):
        r = lesson05.train_cae(lam, b["n_train"], b["epochs"], b["n_val"])
        print(f"  lambda {lam:>4g}: mean ||J_f||_F {r['jacobian']:.3f}, squared error {r['error']:.2f}, "
              f"row norm {r['row_norm']:.3f}, slope {r['slope']:.4f}, saturated {r['saturated']:.2%}")


def stack_6_4() -> None:
    """Exercise 6.4: the fine-tuning learning rate against the squared error."""
    b = lesson06.stack_budget()
    print(f"6.4 budget {b}")
    for lr in (1e-4, 1e-3, 3e-3, 5e-3, 1e-2, 2e-2, 3e-2, 0.1):
        r = lesson06.finetune_stack(lr, b)
        print(f"  lr {lr:>6g}: squared error {r['error']:.2f} (before fine-tuning {r['before']:.2f}, "
              f"the mean image {r['mean_image']:.2f})")


def vae_8_4_8_6() -> None:
    """Exercises 8.4 and 8.6: beta against the KL and the reconstruction error (every mode the same)."""
    print(f"8.4/8.6 (the same run in every mode) | 8.6 target: KL {lesson08.RATE_TARGET} nats ± "
          f"{lesson08.RATE_TOLERANCE:.0%}")
    for beta in (0, 1, 2, 2.5, 2.65, 2.8, 3, 4):
        r = lesson08.vae_rate(beta)
        print(f"  beta {beta:>4g}: KL {r['kl']:.3f} nats, reconstruction {r['recon']:.2f} nats")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", metavar="LESSON",
                        help=f"which lessons' experiments to run, of {', '.join(LESSONS)} (default: all)")
    args = parser.parse_args()
    unknown = [lesson for lesson in args.lessons if lesson not in LESSONS]
    if unknown:
        parser.error(f"no experiment exercises for lesson(s) {', '.join(unknown)}: expected some of "
                     f"{', '.join(LESSONS)}, e.g. `python benchmarks/exercise_experiments.py 5 6`")
    runs = {"3": sparse_3_4, "4": denoiser_4_3_4_4, "5": contractive_5_4, "6": stack_6_4, "8": vae_8_4_8_6}
    start = time.perf_counter()
    for lesson in args.lessons or LESSONS:
        runs[lesson]()
    print(f"{get_mode()} mode: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
