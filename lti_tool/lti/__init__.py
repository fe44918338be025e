"""The LTI 1.3 edge around pylti1p3: login, launch, JWKS, registration, services."""
