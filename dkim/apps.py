from django.apps import AppConfig


class DkimConfig(AppConfig):
    """DKIM keys of the hosted domains: generated or imported, encrypted at
    rest, rotated with an overlap (docs/dkim.md).

    Depends on domains only. The mail hosts sign with ``services.signing_keys()``;
    whether DNS serves a key's record is asked through ``dkim.publication``,
    which monitoring (the owner of the resolver) fills in.
    """

    name = "dkim"
    verbose_name = "DKIM keys"
