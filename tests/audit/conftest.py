"""The consoles' fixtures (the app with demo staff and one API key per role), for the audit
tests that drive the real routes."""

from tests.consoles.conftest import app, cheap_argon2, client  # noqa: F401
