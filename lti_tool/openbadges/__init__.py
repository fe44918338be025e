"""Open Badges 3.0 credential core: build, canonicalize, sign and verify (framework-free).

Nothing here imports Flask or other ``lti_tool`` modules: these are pure functions over plain
data, with I/O (DID resolution over HTTP, key storage, clocks for defaults) injected by callers.
"""
