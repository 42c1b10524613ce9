"""The private Certificate Authority: CSR validation and signing, its HTTP API, and the `smsgate-ca` CLI.

Modules: `paths` (the CA directory), `authority` (root creation, leaf signing), `validation` (CSR rules),
`service` (requests, background signing, expiry), `http` (the API blueprint), `server` (standalone app and
mounting into smsgate-server), `client` and `cli` (`smsgate-ca`). Importing this package imports nothing heavy.
"""
