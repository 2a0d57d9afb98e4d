"""The bare Starlette route of ``http_workers.py``, importable by ``uvicorn --workers``:
answers ``/bare/<kind>/<id>`` with the JSON in the file ``BARE_ANSWERS`` names."""

from __future__ import annotations

import json
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

with open(os.environ["BARE_ANSWERS"], encoding="utf-8") as _file:
    ANSWERS: dict[str, Any] = json.load(_file)


async def answer(request: Request) -> Response:
    found = ANSWERS.get(f"{request.path_params['kind']}/{request.path_params['id']}")
    if found is None:
        return Response(status_code=404)
    return JSONResponse(found)  # re-encoded per request, as the node encodes its answer


app = Starlette(routes=[Route("/bare/{kind}/{id}", answer)])
