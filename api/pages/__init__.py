"""The web pages: server-rendered HTML on GOV.UK Frontend, under ``/app/``.

``api.pages.site.install`` adds them to the app. Each ``routes_*`` module is one area of the
service and registers its navigation entry (:mod:`api.pages.navigation`); templates are in
``api/templates``. See ``sessions`` for sign-in and CSRF, ``templating`` for rendering.
"""
