"""Bearer-token guard for mutating endpoints."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="API token (API_TOKEN)")


def verify_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected: str = request.app.state.api_token
    if credentials is None:
        raise HTTPException(
            401,
            "missing token: send 'Authorization: Bearer <API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})


TokenDep = Annotated[None, Depends(verify_token)]
