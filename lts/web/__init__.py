"""The web layer: what every blueprint shares, so blueprints never import each other.

Between the blueprints and the services (docs/ARCHITECTURE.md):

- :mod:`lts.web.request`: the acting user, htmx detection, redirects back, toasts;
- :mod:`lts.web.htmx`: one view answering a page or the partial htmx targets;
- :mod:`lts.web.errors`: the app-wide error handlers, ``ServiceError`` included,
  answering JSON, an htmx toast or a page by what the client asked for;
- :mod:`lts.web.owned`: a single owned object or the 404;
- :mod:`lts.web.forms`: the base page form (the text rule) and the CSRF-only button form.

Services and security never import this package (they are below it).
"""
