"""Open Badges 3.0 API (`/ims/ob/v3p0`): a learner connects a wallet or an HR portal.

* :mod:`scopes`: the OB 3.0 scopes and which of them this deployment offers;
* :mod:`discovery`: the service description document (OpenAPI);
* :mod:`imsx`: error bodies in the spec's ``Imsx_StatusInfo`` shape;
* :mod:`store`: clients, codes, tokens (hashed) and the learner's connections;
* :mod:`signin`: the learner's first-party sign-in (one-time link -> cookie session);
* :mod:`resources`: what getCredentials / getProfile return;
* :mod:`server`: the Authlib authorization server (DCR, code + PKCE S256, refresh, revoke);
* :mod:`views` and :mod:`learner`: the HTTP edges.
"""
