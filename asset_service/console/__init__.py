"""The web console's static files (``static/``): served at ``/`` by
``asset_service.http.routes.console``. Plain ES modules and CSS, no build step; the one
third-party library, tus-js-client, is vendored under ``static/vendor`` with its licence
(``scripts/update_console_vendor.sh`` updates it)."""
