"""Entry point: ``gunicorn app:server`` (settings from STAT311_* environment variables)."""

from dashboard.app_factory import create_app

app = create_app()
server = app.server

if __name__ == "__main__":  # pragma: no cover
    app.run(host=app.server.extensions["stat311"].settings.host, debug=False)
