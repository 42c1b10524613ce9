"""Sessions: `nox -s tests` (the suite), `nox -s lint` (ruff + mypy), `nox -s demo` (server + phones + traffic),
`nox -s fuzz` (the long schemathesis pass on MariaDB), `nox -s conformance` (the conformance suite against the
reference server: SQLite, MariaDB + Redis, PostgreSQL), `nox -s conformance-mutants` (the suite's mutation check),
`nox -s bench` (performance figures, each beside its ceiling), `nox -s bench-profile` (where the server's time goes)."""

import os

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True



# schemathesis' parametrized tests share one node id per test function, which pytest-xdist's file scheduling
# collapses into one item (one operation run instead of 52): these files run in one process after the others.
ONE_PROCESS = ["tests/reference_server/test_schemathesis.py", "tests/reference_server/test_schemathesis_input.py"]
# The hostile-input schemathesis run at full size (issue #15): at least 2,000 cases on SQLite and 2,000 on MariaDB.
FULL_INPUT_RUN = {"FUZZ_INPUT_EXAMPLES": "60", "FUZZ_INPUT_MIN_CASES": "2000"}


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite: in two worker processes (a file per worker, so a module's server starts once), then the
    schemathesis files in one; with CI=true the MariaDB, Redis and fault tests must run (a missing server fails
    them). With arguments, one pytest run in one process: `nox -s tests -- -k mobile`."""
    session.install("-e", ".[test]")
    pytest = ["pytest", "-q", "-p", "no:cacheprovider"]
    if session.posargs:
        session.run(*pytest, *session.posargs)
        return
    session.run(*pytest, "-n", "2", "--dist", "loadfile", *(f"--ignore={path}" for path in ONE_PROCESS))
    session.run(*pytest, *ONE_PROCESS, env=FULL_INPUT_RUN)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (MkDocs, Material theme) into site/, strictly: a broken link or a generated page
    (configuration, CLI) that drifted from the code fails the build. `nox -s docs -- serve` previews it."""
    session.install("-e", ".[docs,conformance]")
    session.run("python", "docs/generate.py", "--check")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:], env={"NO_MKDOCS_2_WARNING": "1"})
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def schema(session: nox.Session) -> None:
    """Plain `st run` with every check and every phase (fixed seed) against reference servers in public mode
    (JWT on) and in private mode, with openapi/schemathesis.toml: any failure, or an operation that answered only
    401/403, fails it. Options after `--` go to `st run` (e.g. `-n 100`)."""
    session.install("-e", ".[test]")
    session.run("python", "tests/schema_run.py", "-n", "15", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The long schemathesis pass on MariaDB (every phase and check, thousands of examples); prints the request count.

    `nox -s fuzz -- -x` stops at the first finding; FUZZ_EXAMPLES / FUZZ_STATEFUL set the size.
    """
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "-s", "tests/fuzz/fuzz_thorough.py", *session.posargs)


@nox.session(name="fuzz-input")
def fuzz_input(session: nox.Session) -> None:
    """Hostile input through schemathesis at full size (issue #15), alone: every operation, at least 2,000 cases on
    SQLite and 2,000 on MariaDB, no 5xx, no undocumented status; prints the figures. `nox -s tests` runs the same."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "-s", "tests/reference_server/test_schemathesis_input.py",
                *session.posargs, env=FULL_INPUT_RUN)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "reference_server", "simulator", "openapi", "conformance", "tests", "noxfile.py")
    session.run("mypy", "reference_server", "simulator", "openapi", "conformance")


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput, latency and memory of the server and the simulator, each beside its ceiling measured in the same
    run (under 10 minutes on 2 cores); prints the table and writes bench-results.json. `--quick` for a small run,
    `nox -s bench -- --help` for the options."""
    session.install("-e", ".")
    session.run("python", "-m", "simulator.bench", *session.posargs)


@nox.session(name="bench-profile")
def bench_profile(session: nox.Session) -> None:
    """Where the server's time goes under the accept bench's load: py-spy samples the server (SQLite; `--
    --database-url mysql+pymysql://...` for MariaDB) and prints self time by layer, our functions and the
    busiest functions; the collapsed stacks stay in `--workdir`."""
    session.install("-e", ".[profile]")
    session.run("python", "-m", "simulator.bench.profile", *session.posargs)


@nox.session(name="bench-bigtables")
def bench_bigtables(session: nox.Session) -> None:
    """Each request's p50/p99 on 1,000 and on 1,000,000 stored messages (SQLite, MariaDB, then PostgreSQL) and
    the ratio, the phone's pull with 50,000 pending, and reads while cleanup or hashing runs.
    `-- --backend sqlite`, `-- --size 200000` narrow it."""
    session.install("-e", ".[test]")
    session.run("python", "tests/bench_bigtables.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The reference server on its embedded defaults (SQLite, port 3000), 50 simulated phones, steady traffic,
    live figures and a summary; Ctrl-C ends it early. `nox -s demo -- --help` lists the options."""
    session.install("-e", ".")
    # Ctrl-C reaches nox and the demo alike: give the demo time to check, summarise and stop its server
    # before nox escalates to SIGTERM.
    session.run("python", "-m", "simulator.demo", *session.posargs, interrupt_timeout=60, terminate_timeout=15)


@nox.session
def conformance(session: nox.Session) -> None:
    """The conformance suite against the reference server, configured so that every capability is reachable,
    on SQLite, on MariaDB + Redis, then on PostgreSQL; certification mode (no skips) and strict (no SHOULD missed).
    Reports in build/conformance/. `nox -s conformance -- --thorough` runs schemathesis at full size."""
    session.install("-e", ".[test,conformance]")
    session.run("python", "-c", "import os; os.makedirs('build/conformance', exist_ok=True)")
    for backend in ("sqlite", "mariadb", "postgresql"):
        out = f"build/conformance/{backend}"
        session.run("python", "tests/conformance/conf_reference.py", "--backend", backend, "--", "--certify",
                    "--strict", "--baseline", "tests/conformance/not_landed.txt", "--junit-xml", f"{out}.xml",
                    "--html", f"{out}.html", "--json", f"{out}.json",
                    *session.posargs)


@nox.session(name="conformance-plain", reuse_venv=False)
def conformance_plain(session: nox.Session) -> None:
    """A plain `pip install` (no extras, not editable) in a fresh venv: `smsgate-conformance --help` without a
    server, then a real run of the installed command against the reference server (from a scratch directory,
    which it must leave empty)."""
    session.install(".")
    session.run("smsgate-conformance", "--help")
    baseline = os.path.abspath("tests/conformance/not_landed.txt")  # the run starts in a scratch directory
    session.run("python", "tests/conformance/conf_reference.py", "--installed", "--", "--baseline", baseline,
                "--only", "health,errors,registration,send,schema-health", *session.posargs)


@nox.session(name="conformance-judge")
def conformance_judge(session: nox.Session) -> None:
    """The suite judged: two runs against one reference server give identical reports, and a server that
    rate-limits failed logins (the default) passes with its 429s reported (tests/conformance/judge_runs.py)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/conformance/judge_runs.py", *session.posargs)


@nox.session(name="conformance-mutants")
def conformance_mutants(session: nox.Session) -> None:
    """Each patch in tests/conformance/mutants/ (a deliberate contract violation) applied to a temporary copy of
    the server, the suite run against it: every mutant must fail the suite; the table names the capabilities
    that caught it. `nox -s conformance-mutants -- --jobs 3 05-pending-kept` narrows or widens it."""
    session.install("-e", ".[test,conformance]")
    session.run("python", "-c", "import os; os.makedirs('build/conformance/mutants', exist_ok=True)")
    session.run("python", "tests/conformance/conf_mutants.py", "--json", "build/conformance/mutants.json",
                "--reports", "build/conformance/mutants", *session.posargs)


@nox.session(name="deploy-check")
def deploy_check(session: nox.Session) -> None:
    """The Helm chart linted and rendered by Helm's own code (helm-python-sdk, no helm binary) with the defaults, the
    HA values file and more, every rendered object validated against Kubernetes' schemas (kubernetes-validate);
    then `promtool check rules` (Debian's `prometheus` package) on the Prometheus rules."""
    session.install("helm-python-sdk>=0.2.2", "kubernetes-validate>=1.30", "PyYAML>=6")
    session.run("python", "deploy/check.py")
    session.run("promtool", "check", "rules", "deploy/prometheus/smsgate-rules.yml", external=True)


@nox.session
def lock(session: nox.Session) -> None:
    """Regenerate deploy/image/requirements.lock: the image's dependencies pinned with hashes, newest allowed."""
    session.install("uv>=0.4")
    session.run("uv", "pip", "compile", "pyproject.toml", "deploy/image/build-requirements.in", "--extra",
                "conformance", "--generate-hashes", "--upgrade", "--python-version", "3.11", "--python-platform",
                "x86_64-unknown-linux-gnu", "--custom-compile-command", "nox -s lock",
                "-o", "deploy/image/requirements.lock")


@nox.session(python=False)
def image(session: nox.Session) -> None:
    """Build the image with podman on a Debian base made by debootstrap (Debian's packages; registry images cannot
    be pulled here), run it with a volume, register a phone, send a message, recreate the container and find the
    message, run --help of every console script inside. Needs root and `apt-get install podman runc debootstrap`."""
    session.run("python3", "deploy/image/check_image.py")
