"""A second independent MCP client: the official Python MCP SDK (`mcp`, pinned in .ci/setup)
connects to the example MCP server with its own OAuth client (discovery, dynamic registration,
PKCE, resource indicator, token, refresh). The "browser" is plain form posts to mcpgate's login
and consent pages. Prints one line per step; exits non-zero on any failure.

Environment: MCP_URL, MCP_USERNAME, MCP_PASSWORD, and optionally MCP_CALLS.
"""

import asyncio
import html
import json
import os
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

MCP_URL = os.environ["MCP_URL"]
USERNAME = os.environ["MCP_USERNAME"]
PASSWORD = os.environ["MCP_PASSWORD"]
REDIRECT = "http://127.0.0.1:8997/callback"
# The tools to call, in order: a JSON list of [name, arguments] (MCP_CALLS).
CALLS = json.loads(
    os.environ.get("MCP_CALLS", '[["list_notes", {}], ["create_note", {"title": "from python", "body": "hello"}]]')
)


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not m:
        raise RuntimeError(f"no hidden field {name} on the page: {page[:500]}")
    return html.unescape(m.group(1))


landed: dict[str, str] = {}


async def sign_in_and_consent(authorization_url: str) -> None:
    """What a person does in the browser: sign in on mcpgate's page, then allow."""
    async with httpx2.AsyncClient(follow_redirects=False) as browser:
        page = await browser.get(authorization_url)
        if page.status_code == 200 and 'name="password"' in page.text:
            login = urljoin(authorization_url, "/authorize/login")
            page = await browser.post(
                login,
                data={
                    "csrf": hidden(page.text, "csrf"),
                    "continue": hidden(page.text, "continue"),
                    "username": USERNAME,
                    "password": PASSWORD,
                },
            )
            assert page.status_code == 303, f"login failed: {page.status_code} {page.text[:300]}"
            page = await browser.get(page.headers["location"])
        if page.status_code == 200 and 'name="decision"' in page.text:
            consent = urljoin(authorization_url, "/authorize/consent")
            page = await browser.post(
                consent,
                data={"csrf": hidden(page.text, "csrf"), "request": hidden(page.text, "request"), "decision": "allow"},
            )
        assert page.status_code == 303, f"no redirect back: {page.status_code} {page.text[:300]}"
        landed["url"] = page.headers["location"]


async def callback() -> AuthorizationCodeResult:
    query = parse_qs(urlparse(landed["url"]).query)
    if "code" not in query:
        raise RuntimeError(f"authorization failed: {landed['url']}")
    return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0])


async def main() -> None:
    storage = Memory()
    provider = OAuthClientProvider(
        server_url=MCP_URL,
        client_metadata=OAuthClientMetadata(
            client_name="mcpgate e2e (MCP Python SDK)",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=sign_in_and_consent,
        callback_handler=callback,
    )
    transport = streamable_http_client(MCP_URL, http_client=create_mcp_http_client(auth=provider))
    async with Client(transport) as client:
        print(f"registered {storage.client.client_id if storage.client else None}")
        tools = await client.list_tools()
        print("tools " + " ".join(sorted(t.name for t in tools.tools)))
        for name, args in CALLS:
            result = await client.call_tool(name, args)
            print(f"{name} error={result.is_error}")
            if name == "whoami":
                print("whoami " + result.content[0].text)
    print("scope " + (storage.tokens.scope if storage.tokens and storage.tokens.scope else ""))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # noqa: BLE001 - report and fail
        print(f"FAILED {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
