from rooflint.cli import app

app(prog_name="rooflint")
