"""`rooflint measure`: time real kernels (or load a recorded run), fit the empirical roofline,
and compare every prediction with it. Ctrl-C writes what was measured and exits 130."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rooflint.cli import options as o
from rooflint.cli import params as p
from rooflint.cli.app import command, emit, note
from rooflint.compare.profile import calibrate_run, datasheet_profile, profile_yaml
from rooflint.errors import SpecError
from rooflint.measure import session
from rooflint.measure.backends import BACKENDS
from rooflint.report.measure_view import measure_report
from rooflint.report.output import write_atomic

SUITES = ("quick", "full")
DEVICES = ("auto", "cpu", "cuda")

Suite = Annotated[Optional[str], typer.Option("--suite", metavar="quick|full", show_default="quick",
                                              help="quick (a minute on a CPU) or full (wider sweeps).")]
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


@command()
def measure(suite: Suite = None, backend: Backend = None, device: Device = None, time_budget: TimeBudget = None,
            save_profile: SaveProfile = None, gpu: Gpu = None, load: Load = None, fmt: o.Format = None,
            output: o.Output = None, explain: o.Explain = False) -> None:
    """Time real kernels, fit the empirical roofline, and compare every prediction with it."""
    form = o.fmt(fmt)
    which = p.choice(suite, SUITES, "--suite") or "quick"
    names = p.choices(backend, ("all", *BACKENDS), "--backend") if backend else ["all"]
    names = ["all"] if "all" in names else list(dict.fromkeys(names))
    budget = p.seconds(time_budget, "--time-budget")
    wanted = p.choice(device, DEVICES, "--device") or "auto"
    if load:
        run = session.load_run(load)
    else:
        dev = session.resolve_device(wanted)
        backends, missing = session.build_backends(names, dev)
        for line in missing:
            note(f"note: {line}; going on without it")
        note(f"measuring the {which} suite on {dev} with {', '.join(b.name for b in backends)}"
             " (Ctrl-C stops and writes what was measured)")
        run = session.run_suite(which, backends, dev, budget, note)
    datasheet = datasheet_profile(run, gpu)
    calibration = calibrate_run(run)
    if save_profile:
        if calibration is None:
            raise SpecError("--save-profile", None, "the run has no copy and GEMM measurements to calibrate from")
        write_atomic(save_profile, profile_yaml(calibration.hardware(datasheet), save_profile))
    emit(measure_report(run, datasheet, calibration, save_profile), form, output, explain)
    if run.interrupted:
        raise typer.Exit(130)
