"""Sessions: `nox -s tests` (the suite), `nox -s lint` (ruff + mypy), `nox -s demo` (server + phones + traffic)."""

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True



@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite; with CI=true the MariaDB tests must run (a missing server fails them)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "reference_server", "simulator", "openapi", "tests", "noxfile.py")
    session.run("mypy", "reference_server", "simulator", "openapi")


@nox.session
def demo(session: nox.Session) -> None:
    """A server on its embedded defaults (SQLite, port 3000), simulated phones and traffic, then a summary."""
    session.install("-e", ".")
    session.run("python", "-m", "simulator.demo", *session.posargs)
