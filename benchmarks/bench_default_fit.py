"""One default fit on digits / 16, in a fresh process: this checkout alone or against another.

``AutoencoderTransformer`` or ``VAETransformer`` with default parameters (plus
``random_state=0``, ``device="cpu"``) on the 70% training split of digits / 16,
torch and BLAS on 1 thread, each fit in its own child process (its imports,
allocator and thread pool its own, as a user's script would have them). With
``--baseline CHECKOUT`` the children alternate, this checkout then the
baseline's package, for ``--pairs`` pairs, and the ratio is the median of the
paired ratios: ``bench_default_fit.py vae 8 --baseline /tmp/base --pairs 5``.
"""

import warnings
from pathlib import Path

import _harness as harness


def child(estimator, d):
    from _datasets import digits, split

    from sklearn_ae import AutoencoderTransformer, VAETransformer

    harness.limit_threads(1)
    est = {"ae": AutoencoderTransformer, "vae": VAETransformer}[estimator](d, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, (seconds, _) = harness.timed(est.set_params(device="cpu").fit, split(digits())[0])
    return {"seconds": seconds}


def cases(args):
    run, checkouts = {"estimator": args.estimator, "d": args.d}, {"this": harness.ROOT}
    checkouts |= {"baseline": args.baseline} if args.baseline else {}
    fits = {
        k: lambda k=k: harness.run_child(__file__, run, checkout=checkouts[k]) for k in checkouts
    }
    yield harness.Case(run, fits, rounds=args.pairs)


def report(records, args):
    seconds = {r["variant"]: [run["seconds"] for run in r["runs"]] for r in records}
    fit, ratio = f"{args.estimator} {args.d}", ""
    if args.baseline:
        ratio = f"{harness.median(harness.paired(seconds['this'], seconds['baseline'])):.2f}"
    rows = [[fit, name, f"{harness.median(s):.3f}", ratio] for name, s in seconds.items()]
    return [harness.Table("fit", None, "fit | checkout | fit s (median) | this / baseline", rows)]


def options(parser):
    parser.add_argument("estimator", choices=["ae", "vae"])
    parser.add_argument("d", type=int)
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with")
    parser.add_argument("--pairs", type=int, default=1)


BENCHMARK = harness.Benchmark(__file__, __doc__, cases, report, options, child, threads=None)

if __name__ == "__main__":
    harness.main(BENCHMARK)
