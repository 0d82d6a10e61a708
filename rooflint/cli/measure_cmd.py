"""`rooflint measure`: time real kernels (or load a recorded run), fit the empirical roofline,
and compare every prediction with it.

Exit codes: 0 everything asked for was written; 130 Ctrl-C: the first stops measuring and what
was measured is written (a second one, while that is written, waits for the write to finish);
2 bad input, nothing written (a --save-profile that cannot be met is found before measuring where
it can be: no backend times a copy or a GEMM, or a loaded run has none); 1 the run was measured
and its report written, but no profile could be fitted from it (every copy or GEMM was skipped:
out of time, out of memory, a failed check), said on stderr.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Optional

import typer

from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit, note
from rooflint.cli.progress import progress
from rooflint.compare.calibration import NOISE_LIMIT, Calibration, noisy_ceilings
from rooflint.compare.collective_fit import compare_run, with_measured_collectives
from rooflint.compare.profile import calibrate_run, datasheet_profile, profile_yaml
from rooflint.errors import RooflintError, SpecError
from rooflint.measure import cases, session
from rooflint.measure.backends import BACKENDS
from rooflint.measure.cases import CALIBRATION_KERNELS
from rooflint.measure.collectives import check_available, run_collectives
from rooflint.measure.result import Run
from rooflint.report.collectives_run_view import collectives_run_report
from rooflint.report.measure_view import measure_report
from rooflint.report.output import check_target, signals_held
from rooflint.specs import Hardware
from rooflint.specs.catalog import load_hardware

SUITES = ("quick", "full")
DEVICES = ("auto", "cpu", "cuda")

Suite = Annotated[Optional[str], typer.Option("--suite", metavar="quick|full", show_default="quick",
                                              help="quick (about a minute on an idle 2-core CPU; longer on a busy "
                                                   "one, --time-budget caps it) or full (wider sweeps, minutes).")]
Backend = Annotated[Optional[str], typer.Option("--backend", metavar="all|NAMES", show_default="all",
                                                help="all, or a comma list of numpy, torch, cupy.")]
Device = Annotated[Optional[str], typer.Option("--device", metavar="auto|cpu|cuda", show_default="auto",
                                               help="cpu, cuda, or auto (cuda when torch or CuPy sees one).")]
TimeBudget = Annotated[Optional[str], typer.Option("--time-budget", metavar=p.TIME, show_default="none",
                                                   help="Stop starting kernels after this long, e.g. 60 or '2 min'.")]
SaveProfile = Annotated[Optional[str], typer.Option("--save-profile", metavar="FILE", help="Write the calibrated "
                                                    "hardware YAML here (use it with --gpu FILE).")]
Gpu = Annotated[Optional[str], typer.Option("--gpu", "-g", metavar="GPU", show_default="detected from the device name",
                                            help="Datasheet profile to compare with: a built-in name or a hardware "
                                                 "YAML.")]
Load = Annotated[Optional[str], typer.Option("--load", metavar="FILE",
                                             help="Compare a run saved with -f json instead of measuring.")]
Force = Annotated[bool, typer.Option("--force", help="Fit and save a profile even from ceilings whose noise "
                                    f"(IQR / median) exceeds {100 * NOISE_LIMIT:g}%.")]
Collectives = Annotated[bool, typer.Option("--collectives", help="Time collectives through torch.distributed "
                                           "instead of kernels (gloo on CPU, NCCL on GPUs) and fit their latency "
                                           "and bandwidth.")]
WorldSize = Annotated[Optional[str], typer.Option("--world-size", metavar=p.COUNT, show_default="2",
                                                  help="Ranks spawned for --collectives.")]


@command()
def measure(suite: Suite = None, backend: Backend = None, device: Device = None, time_budget: TimeBudget = None,
            save_profile: SaveProfile = None, gpu: Gpu = None, load: Load = None, collectives: Collectives = False,
            world_size: WorldSize = None, force: Force = False, quiet: o.Quiet = False, fmt: o.Format = None,
            output: o.Output = None, explain: o.Explain = False) -> None:
    """Time real kernels, fit the empirical roofline, and compare every prediction with it."""
    form = o.fmt(fmt)
    if collectives:
        _collectives(world_size, device, time_budget, save_profile, gpu, load, form, output, quiet)
        return
    which = p.choice(suite, SUITES, "--suite") or "quick"
    names = p.choices(backend, ("all", *BACKENDS), "--backend") if backend else ["all"]
    names = ["all"] if "all" in names else list(dict.fromkeys(names))
    budget = p.seconds(time_budget, "--time-budget")
    wanted = p.choice(device, DEVICES, "--device") or "auto"
    given = load_hardware(gpu) if gpu else None  # a bad --gpu is refused before minutes of measuring
    if load:
        run = session.load_run(load)
    else:
        dev = session.resolve_device(wanted)
        backends, missing = session.build_backends(names, dev)
        for line in missing:
            note(f"note: {line}; going on without it")
        if save_profile:
            _check_can_calibrate(backends, which, dev)
        note(f"measuring the {which} suite on {dev} with {', '.join(b.name for b in backends)}"
             " (Ctrl-C stops and writes what was measured)")
        with progress(f"measure {which}", quiet) as step:
            run = session.run_suite(which, backends, dev, budget, step)
        if run.interrupted:
            note(f"interrupted: writing the {len(run.measurements)} kernel(s) measured before it")
    # What was measured is not lost to a second Ctrl-C (or a SIGTERM): held until it is written.
    with contextlib.nullcontext() if load else signals_held():
        code = _write(run, given, save_profile, load, form, output, explain, force)
    if code:
        raise typer.Exit(code)


def _write(run: Run, given: Hardware | None, save_profile: str | None, load: str | None, form: str,
           output: str | None, explain: bool, force: bool = False) -> int:
    """The report (and the profile) written together, all or none; the exit code."""
    datasheet = given or datasheet_profile(run, None)
    calibration = calibrate_run(run)
    also: tuple[tuple[str, str], ...] = ()
    code = 130 if run.interrupted and not load else 0
    if save_profile:
        profile, why = _profile(run, calibration, datasheet, save_profile, force)
        if profile is not None:
            also = ((save_profile, profile),)
            if run.interrupted:
                note(f"note: the profile in {save_profile} is fitted from an interrupted run: its ceilings are "
                     "the best of what was measured before it")
        elif load:  # nothing was measured here: a profile that cannot be made is a bad request
            raise SpecError(load, None, f"no profile can be fitted for --save-profile: {why}")
        else:
            note(f"note: no profile written to {save_profile}: {why}; the report is written")
            code = code or 1
    emit(measure_report(run, datasheet, calibration, save_profile if also else None), form, output, explain,
         also=also)
    if load and run.interrupted:
        note(f"note: the loaded run was interrupted; {len(run.measurements)} kernel(s) measured")
    return code


def _profile(run: Run, calibration: Calibration | None, datasheet: Hardware | None,
             path: str, force: bool = False) -> tuple[str | None, str]:
    """The calibrated profile's YAML, or None and why there is none (a ceiling measured in noise
    is not saved unless forced: it would mislead every forecast made with the profile)."""
    if calibration is None:
        kinds = {m.case.kernel for m in run.measurements}
        lacking = " or ".join(k if k == "copy" else "GEMM" for k in CALIBRATION_KERNELS if k not in kinds)
        why = f"the run has no {lacking} measurement to calibrate from"
        return None, why + (" (it was interrupted before one was measured)" if run.interrupted else "")
    noisy = noisy_ceilings(calibration)
    if noisy and not force:
        more = f" and {len(noisy) - 2} more" if len(noisy) > 2 else ""
        return None, (f"too noisy to fit: {'; '.join(noisy[:2])}{more}; measure again on an idle machine, "
                      "or give --force")
    try:
        return profile_yaml(calibration.hardware(datasheet), path), ""
    except RooflintError as exc:
        return None, f"the calibrated profile does not load back: {exc}"


def _check_can_calibrate(backends: list, which: str, device: str) -> None:
    """--save-profile needs a copy and a GEMM: refused before measuring when no backend times one."""
    planned = cases.suite(which, device)
    for kernel in CALIBRATION_KERNELS:
        if not any(b.supports(c) is True for b in backends for c in planned if c.kernel == kernel):
            raise SpecError("--save-profile", None, f"none of the backends ({', '.join(b.name for b in backends)}) "
                            f"times a {'GEMM' if kernel == 'gemm' else kernel} on {device}: a profile is fitted "
                            "from copies and GEMMs")


def _collectives(world_size: str | None, device: str | None, time_budget: str | None, save_profile: str | None,
                 gpu: str | None, load: str | None, form: str, output: str | None, quiet: bool = False) -> None:
    """`measure --collectives`: spawn the ranks, time, fit; the report (and profile) written whole."""
    if load:
        raise SpecError("--load", None, "--collectives measures; a saved collective run is not read back")
    n = p.whole(world_size, "--world-size", 2) or 2
    if n > 64:
        raise SpecError("--world-size", None, f"at most 64 ranks on one machine, got {n}")
    budget = p.seconds(time_budget, "--time-budget")
    dev = session.resolve_device(p.choice(device, DEVICES, "--device") or "auto")
    base = load_hardware(gpu) if gpu else None
    if save_profile and base is None:
        raise SpecError("--save-profile", None, "--collectives adds the measured collectives to a profile: give "
                        "--gpu (a built-in name, or a YAML such as one `measure --save-profile` wrote)")
    if save_profile:
        check_target(save_profile)
    if output:
        check_target(output)
    check_available(n, dev)
    note(f"measuring collectives on {n} {'GPUs' if dev == 'cuda' else 'CPU ranks'} (Ctrl-C stops)")
    with progress("collectives", quiet) as step:
        run = run_collectives(n, dev, time_budget_s=budget, progress=step)
    rows, fits = compare_run(run)
    also: tuple[tuple[str, str], ...] = ()
    if save_profile and fits:
        hw = with_measured_collectives(base, fits, run, base.name + "-measured-collectives")
        also = ((save_profile, profile_yaml(hw, save_profile)),)
    with signals_held():
        emit(collectives_run_report(run, rows, fits, save_profile if also else None), form, output, False, also=also)
    if save_profile and not fits:
        note(f"note: no profile written to {save_profile}: no op was measured at two sizes")
        raise typer.Exit(1)
    if run.interrupted:
        raise typer.Exit(130)
