"""What counts as a secret in an OCPP frame, and masking it in a decoded frame.

Secret are the values under secret keys (``idToken``, ``password`` ...) and the
values of secret device-model variables (see :func:`secret_variable`) wherever
a frame carries them. The trace, the log filter and the JSON API all decide
with these; this module imports nothing of ours.
"""

from __future__ import annotations

from typing import Any

MASK = "***"

#: Keys whose values are secrets wherever they appear in a payload.
_SECRET_KEYS = frozenset(
    {
        "idToken",
        "additionalIdToken",
        "password",
        "basicAuthPassword",
        "certificateChain",
        "exiRequest",
        "exiResponse",
        "csr",
    }
)
#: Device-model variables whose values are secrets.
SECRET_VARIABLES = frozenset({"BasicAuthPassword", "IdentityKey"})
#: Words that make a device-model variable secret wherever they stand in its name.
_SECRET_WORDS = ("password", "secret")


def secret_variable(key: str) -> bool:
    """Whether a device-model variable (``Component.Variable[instance]`` or a bare name) holds a secret.

    Secret are :data:`SECRET_VARIABLES` and any variable whose name says
    password or secret; the trace, the logs and the API mask their values.
    """
    name = key.rsplit(".", 1)[-1].split("[", 1)[0]
    lowered = name.lower()
    return name in SECRET_VARIABLES or any(word in lowered for word in _SECRET_WORDS)


#: The keys that carry a variable's value, next to its ``variable`` (reports, GetVariables, SetVariables, events).
_VALUE_KEYS = frozenset({"attributeValue", "value", "actualValue"})


def mask_secrets(value: Any) -> Any:
    """Return a copy of a decoded frame with every secret value replaced by ``***``."""
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    if not isinstance(value, dict):
        return value
    masked: dict[str, Any] = {}
    variable = value.get("variable")
    name = variable.get("name") if isinstance(variable, dict) else None
    secret = isinstance(name, str) and secret_variable(name)
    for key, item in value.items():
        if (key in _SECRET_KEYS and not isinstance(item, (dict, list))) or (secret and key in _VALUE_KEYS):
            masked[key] = MASK
        elif secret and key == "variableAttribute" and isinstance(item, list):
            masked[key] = [{**a, "value": MASK} if isinstance(a, dict) and "value" in a else a for a in item]
        else:
            masked[key] = mask_secrets(item)
    return masked
