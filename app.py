"""Entry point: ``gunicorn app:server`` (settings from STAT311_* environment variables).

Each worker logs as the commands do, brings the store's schema up to date and says when the
read-model snapshot is missing or out of date (:func:`dashboard.app_factory.prepare_worker`)."""

from dashboard.app_factory import create_app, prepare_worker
from dashboard.settings import Settings

settings = Settings.from_env()
prepare_worker(settings)
app = create_app(settings)
server = app.server

if __name__ == "__main__":  # pragma: no cover
    app.run(host=settings.host, debug=False)
