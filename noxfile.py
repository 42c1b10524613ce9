"""Sessions: `nox -s tests` (the suite), `nox -s lint` (ruff + mypy), `nox -s demo` (server + phones + traffic),
`nox -s fuzz` (the long schemathesis pass on MariaDB)."""

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
    session.run("ruff", "check", "reference_server", "simulator", "openapi", "tests", "noxfile.py")
    session.run("mypy", "reference_server", "simulator", "openapi")


@nox.session
def demo(session: nox.Session) -> None:
    """The reference server on its embedded defaults (SQLite, port 3000), 50 simulated phones, steady traffic,
    live figures and a summary; Ctrl-C ends it early. `nox -s demo -- --help` lists the options."""
    session.install("-e", ".")
    # Ctrl-C reaches nox and the demo alike: give the demo time to check, summarise and stop its server
    # before nox escalates to SIGTERM.
    session.run("python", "-m", "simulator.demo", *session.posargs, interrupt_timeout=60, terminate_timeout=15)
