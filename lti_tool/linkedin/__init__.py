"""LinkedIn: the Add-to-Profile link and "Share on LinkedIn" (OpenID Connect + Posts API).

``add_to_profile`` is pure; ``oauth`` and ``posts`` talk to LinkedIn over an injected
``requests`` session; ``accounts`` and ``tenants`` are database services. Nothing here
imports Flask: the pages live in ``lti_tool.web.linkedin``.
"""
