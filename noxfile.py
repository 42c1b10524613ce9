"""Sessions: `nox -s tests` (the suite), `nox -s lint` (ruff + mypy), `nox -s demo` (server + phones + traffic),
`nox -s fuzz` (the long schemathesis pass on MariaDB), `nox -s conformance` (the conformance suite against the
reference server, SQLite and MariaDB + Redis), `nox -s conformance-mutants` (the suite's mutation check),
`nox -s bench` (performance figures, each beside its ceiling)."""

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True



@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite; with CI=true the MariaDB tests must run (a missing server fails them)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """The long schemathesis pass on MariaDB (every phase and check, thousands of examples); prints the request count.

    `nox -s fuzz -- -x` stops at the first finding; FUZZ_EXAMPLES / FUZZ_STATEFUL set the size.
    """
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "-s", "tests/fuzz/fuzz_thorough.py", *session.posargs)


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


@nox.session(name="bench-bigtables")
def bench_bigtables(session: nox.Session) -> None:
    """Each request's p50/p99 on 1,000 and on 1,000,000 stored messages (SQLite, then MariaDB) and the ratio,
    the phone's pull with 50,000 pending, and reads while cleanup or hashing runs. `-- --backend sqlite`,
    `-- --size 200000` narrow it."""
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
    on SQLite and then on MariaDB + Redis; certification mode (no skips) and strict (no SHOULD missed).
    Reports in build/conformance/. `nox -s conformance -- --thorough` runs schemathesis at full size."""
    session.install("-e", ".[test,conformance]")
    session.run("python", "-c", "import os; os.makedirs('build/conformance', exist_ok=True)")
    for backend in ("sqlite", "mariadb"):
        out = f"build/conformance/{backend}"
        session.run("python", "tests/conformance/conf_reference.py", "--backend", backend, "--", "--certify",
                    "--strict", "--junit-xml", f"{out}.xml", "--html", f"{out}.html", "--json", f"{out}.json",
                    *session.posargs)


@nox.session(name="conformance-mutants")
def conformance_mutants(session: nox.Session) -> None:
    """Each patch in tests/conformance/mutants/ (a deliberate contract violation) applied to a temporary copy of
    the server, the suite run against it: every mutant must fail the suite; the table names the capabilities
    that caught it. `nox -s conformance-mutants -- --jobs 3 05-pending-kept` narrows or widens it."""
    session.install("-e", ".[test,conformance]")
    session.run("python", "-c", "import os; os.makedirs('build/conformance/mutants', exist_ok=True)")
    session.run("python", "tests/conformance/conf_mutants.py", "--json", "build/conformance/mutants.json",
                "--reports", "build/conformance/mutants", *session.posargs)
