"""Panel accounts.

Administrators are Django's own users (django.contrib.auth); mailbox owners
log in with their mailbox address and are never Django users, so a mailbox
password can never open the admin.
"""
