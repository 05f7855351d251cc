"""Token management: the token list's store, its service, and the charger's local list kept in step with it.

The list itself and the authorization rules are state (:mod:`bmw_wallbox.tokenbook`);
this package persists them, edits them with honest results, and talks to chargers
through :class:`~bmw_wallbox.ports.AuthPort` only, and runs its charger commands
through the command runner it is given (it imports nothing of the controller).
"""

from bmw_wallbox.tokens.service import TokenService
from bmw_wallbox.tokens.store import TokenStore
from bmw_wallbox.tokens.sync import LocalListSync

__all__ = ["LocalListSync", "TokenService", "TokenStore"]
