"""--help as a user reads it: every option has a help text and a metavar that says what it takes
(not typer's TEXT or INTEGER); an option name means one thing in every command (the same metavar),
save the list forms `sweep` takes for its grid axes; sweep's old --gpus still reads as --gpu."""

from typer.main import get_command

from rooflint.cli import app

GROUP = get_command(app)
# sweep's axes (and kv's contexts) take lists where the other commands take one value
LIST_FORMS = {("sweep", "--gpu"): "GPU[,GPU...]|all", ("kv", "--context"): "COUNTS", ("sweep", "--batch"): "COUNTS",
              ("sweep", "--context"): "COUNTS", ("sweep", "--kv-dtype"): "DTYPES",
              ("sweep", "--attention"): "eager,flash",
              ("sweep", "--format"): "table|csv|json|markdown|parquet|npz"}
OWN_OUTPUT = {"plot": "FILE", "report": "FILE.html"}  # their output is the image or page itself


def _options():
    for name in GROUP.list_commands(None):
        cmd = GROUP.get_command(None, name)
        for p in cmd.params:
            if p.param_type_name == "option" and not p.hidden:
                yield name, p


def test_every_option_says_what_it_takes():
    for name, p in _options():
        assert p.help, (name, p.opts)
        if not p.is_flag:
            assert p.metavar and p.metavar not in ("TEXT", "INTEGER", "FLOAT"), (name, p.opts, p.metavar)


def test_one_option_name_one_meaning():
    seen: dict[str, set] = {}
    for name, p in _options():
        long = next(o for o in p.opts if o.startswith("--"))
        if (name, long) in LIST_FORMS:
            assert p.metavar == LIST_FORMS[name, long]
            continue
        if long == "--output" and name in OWN_OUTPUT:
            continue
        seen.setdefault(long, set()).add((p.metavar, p.is_flag))
    mixed = {k: v for k, v in seen.items() if len(v) > 1}
    # --tp, --gpus: a count everywhere; --gpu: one GPU; --seed: a seed
    assert not mixed, mixed


def test_sweep_reads_the_old_gpus_name(cli):
    new = cli("sweep", "--models", "llama2-7b", "--gpu", "h100", "--batch", "1", "--context", "1k", "-f", "csv").stdout
    old = cli("sweep", "--models", "llama2-7b", "--gpus", "h100", "--batch", "1", "--context", "1k", "-f", "csv").stdout
    assert new.splitlines()[1].split(",")[:4] == old.splitlines()[1].split(",")[:4]
    r = cli("sweep", "--gpu", "h100", "--gpus", "a100", code=2)
    assert "give the GPUs once" in r.stderr
