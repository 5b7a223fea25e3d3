"""What went wrong in a call to an ACME CA, in one readable line with the CA's problem."""

from __future__ import annotations

import requests
from acme import errors as acme_errors
from acme import messages

from certs.issuer import IssuanceFailed


def describe_failure(error: BaseException) -> tuple[bool, str]:
    """(whether a challenge failed validation, a readable detail with the CA's problem)."""
    if isinstance(error, acme_errors.ValidationError):
        details = []
        for authorization in error.failed_authzrs:
            name = authorization.body.identifier.value
            for body in authorization.body.challenges:
                if body.error is not None:
                    details.append(f"{name}: {_problem(body.error)}")
        return True, "; ".join(details) or "a challenge failed validation"
    if isinstance(error, acme_errors.IssuanceError):
        return False, f"the CA refused to issue: {_problem(error.error)}"
    if isinstance(error, acme_errors.TimeoutError):
        return False, "the CA did not finish the order before the deadline"
    if isinstance(error, messages.Error):
        return False, f"the CA answered with an error: {_problem(error)}"
    if isinstance(error, requests.RequestException):
        return False, f"the CA could not be reached: {error}"
    if isinstance(error, IssuanceFailed):
        return error.validation_failed, error.reason
    return False, f"{type(error).__name__}: {error}"


def _problem(problem: messages.Error) -> str:
    """An RFC 7807 problem document in one line: its type, detail and sub-problems."""
    parts = [str(problem.typ or "about:blank")]
    if problem.detail:
        parts.append(str(problem.detail))
    text = " :: ".join(parts)
    subproblems = getattr(problem, "subproblems", None) or ()
    if subproblems:
        text += " (" + "; ".join(str(sub) for sub in subproblems) + ")"
    return text
