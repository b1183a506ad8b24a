//! The admin API's OpenAPI 3.1 document, generated from the route table so that the document
//! and the routing cannot disagree.

use http::{header, HeaderValue, StatusCode};
#[cfg(not(target_arch = "wasm32"))]
use serde_json::{json, Map, Value};

use super::routes::Op;
#[cfg(not(target_arch = "wasm32"))]
use super::{routes::ROUTES, PREFIX};
use crate::config::Config;
use crate::wire::{public_cache, Response};

#[cfg(not(target_arch = "wasm32"))]
fn string_list() -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "maxItems": 100 })
}

#[cfg(not(target_arch = "wasm32"))]
fn tools_list() -> Value {
    json!({ "type": "array", "maxItems": 100, "description": "MCP tools the scope covers: exact names, or prefixes ending in *",
        "items": { "type": "string", "pattern": "^[A-Za-z0-9_./-]*[*]?$", "minLength": 1, "maxLength": 128 } })
}

#[cfg(not(target_arch = "wasm32"))]
/// Token-exchange delegations: subject tokens for `from` may be exchanged for tokens for `to`.
fn exchange_rules() -> Value {
    json!({
        "type": "array", "maxItems": 100,
        "items": {
            "type": "object", "additionalProperties": false, "required": ["from", "to"],
            "properties": {
                "from": { "type": "string", "description": "The subject token's audience (a resource server identifier)" },
                "to": { "type": "string", "description": "The audience of the token it may be exchanged for" }
            }
        }
    })
}

#[cfg(not(target_arch = "wasm32"))]
/// JSON Schemas of the request bodies (unknown fields are rejected) and of the responses.
fn schemas() -> Value {
    let mut all = request_schemas();
    if let (Some(a), Value::Object(b)) = (all.as_object_mut(), response_schemas()) {
        a.extend(b);
    }
    all
}

#[cfg(not(target_arch = "wasm32"))]
fn request_schemas() -> Value {
    let mappings = json!({ "type": "array", "maxItems": 200, "items": {
        "type": "object", "additionalProperties": false, "required": ["value", "group_id"],
        "properties": {
            "value": { "type": "string", "description": "A value of the groups claim" },
            "group_id": { "type": "string" }
        }
    }});
    let idp_input = json!({
        "issuer": { "type": "string", "format": "uri", "description": "Exact iss of its ID tokens; discovery is read below it; cannot be changed" },
        "display_name": { "type": "string", "description": "Shown as 'Sign in with …'" },
        "button_label": { "type": ["string", "null"], "description": "The login page's button text instead of 'Sign in with <display_name>'" },
        "client_id": { "type": "string" },
        "client_secret": { "type": ["string", "null"], "description": "Sealed at rest, never returned" },
        "scopes": { "type": "string", "description": "Space-separated; must include openid" },
        "email_domains": { "type": "array", "items": { "type": "string" }, "description": "Emails typed on the login form with these domains sign in here" },
        "provisioning": { "enum": ["jit", "existing"] },
        "link_verified_email": { "type": "boolean", "description": "A first sign-in with a verified email in one of email_domains, equal to the username of a user with no upstream identity, links to that user" },
        "groups_claim": { "type": "string" },
        "id_jag": { "type": "boolean", "description": "Accept its identity assertions (ID-JAG) at /token" },
        "status": { "enum": ["active", "disabled"] },
        "group_mappings": mappings.clone()
    });
    let scope_create = json!({
        "type": "object", "additionalProperties": false, "required": ["name"],
        "properties": {
            "name": { "type": "string", "description": "RFC 6749 scope token" },
            "description": { "type": "string", "description": "Shown on the consent page" },
            "implies": string_list(),
            "tools": tools_list()
        }
    });
    let unmapped = json!({ "enum": ["deny", "allow"],
        "description": "What a gateway does with a tool no scope covers (default deny)" });
    let scope_ref = json!({
        "type": "object", "additionalProperties": false, "required": ["resource", "scope"],
        "properties": { "resource": { "type": "string", "format": "uri" }, "scope": { "type": "string" } }
    });
    let nullable_list = json!({ "oneOf": [string_list(), { "type": "null" }] });
    json!({
        "ResourceServerCreate": {
            "type": "object", "additionalProperties": false, "required": ["identifier", "name"],
            "properties": {
                "kind": { "enum": ["mcp", "api"] },
                "identifier": { "type": "string", "format": "uri", "description": "Canonical URL; the token audience" },
                "name": { "type": "string" },
                "description": { "type": "string" },
                "access_token_ttl": { "type": "integer", "minimum": 60 },
                "allow_self_registered": { "type": "boolean" },
                "self_registered_max_scopes": nullable_list,
                "default_scopes": nullable_list,
                "unmapped_tools": unmapped,
                "scopes": { "type": "array", "items": scope_create, "maxItems": 100 }
            }
        },
        "ResourceServerPatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "name": { "type": "string" }, "description": { "type": "string" },
                "access_token_ttl": { "type": "integer", "minimum": 60 },
                "allow_self_registered": { "type": "boolean" },
                "self_registered_max_scopes": nullable_list, "default_scopes": nullable_list,
                "unmapped_tools": unmapped
            }
        },
        "ScopeCreate": scope_create,
        "ScopePatch": {
            "type": "object", "additionalProperties": false,
            "properties": { "description": { "type": "string" }, "implies": string_list(), "tools": tools_list() }
        },
        "RoleCreate": {
            "type": "object", "additionalProperties": false, "required": ["name"],
            "properties": {
                "name": { "type": "string" }, "description": { "type": "string" },
                "scopes": { "type": "array", "items": scope_ref, "maxItems": 100 }
            }
        },
        "RolePatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "name": { "type": "string" }, "description": { "type": "string" },
                "scopes": { "type": "array", "items": scope_ref, "maxItems": 100 }
            }
        },
        "UserCreate": {
            "type": "object", "additionalProperties": false, "required": ["username"],
            "properties": {
                "username": { "type": "string", "pattern": "^[A-Za-z0-9._@+-]{1,64}$" },
                "display_name": { "type": "string" },
                "password": { "type": "string", "minLength": 8 },
                "status": { "enum": ["active", "disabled"] }
            }
        },
        "UserPatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "display_name": { "type": "string" },
                "password": { "type": "string", "minLength": 8 },
                "status": { "enum": ["active", "disabled"] },
                "reason": { "type": "string", "description": "Why (audited when the user is disabled)" }
            }
        },
        "IdentityProviderCreate": {
            "type": "object", "additionalProperties": false,
            "required": ["issuer", "display_name", "client_id"],
            "properties": idp_input.clone()
        },
        "IdentityProviderPatch": {
            "type": "object", "additionalProperties": false, "properties": idp_input
        },
        "GroupMappings": {
            "type": "object", "additionalProperties": false, "required": ["group_mappings"],
            "properties": { "group_mappings": mappings }
        },
        "IdentityLink": {
            "type": "object", "additionalProperties": false, "required": ["provider_id", "subject"],
            "properties": { "provider_id": { "type": "string" }, "subject": { "type": "string" } }
        },
        "GroupCreate": {
            "type": "object", "additionalProperties": false, "required": ["name"],
            "properties": { "name": { "type": "string" }, "description": { "type": "string" } }
        },
        "GroupPatch": {
            "type": "object", "additionalProperties": false,
            "properties": { "name": { "type": "string" }, "description": { "type": "string" } }
        },
        "ApplicationCreate": {
            "type": "object", "additionalProperties": false, "required": ["name", "client_type"],
            "properties": {
                "name": { "type": "string" }, "description": { "type": "string" },
                "client_type": { "enum": ["public", "confidential"] },
                "application_type": { "enum": ["web", "native"] },
                "redirect_uris": string_list(),
                "grant_types": string_list(),
                "token_endpoint_auth_method": { "enum": ["none", "client_secret_basic", "client_secret_post"] },
                "roles": string_list(),
                "resources": string_list(),
                "exchange": exchange_rules(),
                "introspect": string_list()
            }
        },
        "AgentCreate": {
            "type": "object", "additionalProperties": false, "required": ["name", "owner"],
            "properties": {
                "name": { "type": "string" }, "description": { "type": "string" },
                "owner": { "type": "string" }, "groups": string_list(), "resources": string_list(),
                "exchange": exchange_rules(), "introspect": string_list()
            }
        },
        "ClientPatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "name": { "type": "string" }, "description": { "type": "string" },
                "status": { "enum": ["active", "disabled"] },
                "redirect_uris": string_list(), "owner": { "type": "string" }, "resources": string_list(),
                "exchange": exchange_rules(), "introspect": string_list(),
                "reason": { "type": "string" }
            }
        },
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {
                "error": { "type": "string" },
                "error_description": { "type": "string" },
                "field": { "type": "string", "description": "The input field at fault" }
            }
        }
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
}

#[cfg(not(target_arch = "wasm32"))]
fn list_of(schema: &str) -> Value {
    json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{schema}") } })
}

#[cfg(not(target_arch = "wasm32"))]
fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

#[cfg(not(target_arch = "wasm32"))]
/// One page of a list: `items` and the cursor of the next page (`null` on the last).
fn page(schema: &str) -> Value {
    object(
        &["items", "next_cursor"],
        json!({ "items": list_of(schema), "next_cursor": nullable("string") }),
    )
}

#[cfg(not(target_arch = "wasm32"))]
/// JSON Schemas of the success responses. Every object is closed (`additionalProperties:
/// false`), so a test that validates real responses catches a field the document misses.
fn response_schemas() -> Value {
    let int = json!({ "type": "integer" });
    let string = json!({ "type": "string" });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let status = json!({ "enum": ["active", "disabled"] });
    let stamps = ["created_at", "updated_at"];
    let with = |base: &[&'static str], more: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(more).copied().collect()
    };
    json!({
        "ResourceServer": object(
            &with(&stamps, &["id", "identifier", "kind", "name", "description", "access_token_ttl",
                "allow_self_registered", "default_scopes", "self_registered_max_scopes", "unmapped_tools"]),
            json!({
                "id": string, "identifier": { "type": "string", "format": "uri" },
                "kind": { "enum": ["mcp", "api"] }, "name": string, "description": string,
                "access_token_ttl": int, "allow_self_registered": { "type": "boolean" },
                "default_scopes": { "type": ["array", "null"], "items": { "type": "string" } },
                "self_registered_max_scopes": { "type": ["array", "null"], "items": { "type": "string" } },
                "unmapped_tools": { "enum": ["deny", "allow"] },
                "scopes": { "description": "Present on a single resource server", "type": "array",
                    "items": { "$ref": "#/components/schemas/Scope" } },
                "created_at": int, "updated_at": int
            }),
        ),
        "ResourceServerPage": page("ResourceServer"),
        "Scope": object(&["name", "description", "implies", "tools"],
            json!({ "name": string, "description": string, "implies": strings, "tools": strings })),
        "ScopePage": page("Scope"),
        "ScopeRef": object(&["resource", "scope"], json!({ "resource": string, "scope": string })),
        "Role": object(
            &with(&stamps, &["id", "name", "description"]),
            json!({
                "id": string, "name": string, "description": string,
                "scopes": { "description": "Present on a single role", "type": "array",
                    "items": { "$ref": "#/components/schemas/ScopeRef" } },
                "created_at": int, "updated_at": int
            }),
        ),
        "RolePage": page("Role"),
        "User": object(
            &with(&stamps, &["id", "username", "display_name", "status", "has_password", "disabled_at"]),
            json!({
                "id": string, "username": string, "display_name": string, "status": status,
                "has_password": { "type": "boolean" }, "disabled_at": nullable("integer"),
                "password": { "type": "string", "description": "A generated password, shown once at creation" },
                "created_at": int, "updated_at": int
            }),
        ),
        "UserPage": page("User"),
        "Group": object(&with(&stamps, &["id", "name", "description"]),
            json!({ "id": string, "name": string, "description": string, "created_at": int, "updated_at": int })),
        "GroupPage": page("Group"),
        "IdentityProvider": object(
            &with(&stamps, &["id", "issuer", "display_name", "button_label", "client_id", "has_client_secret", "scopes",
                "email_domains", "provisioning", "link_verified_email", "groups_claim", "id_jag", "status",
                "redirect_uri", "group_mappings"]),
            json!({
                "id": string, "issuer": { "type": "string", "format": "uri" }, "display_name": string,
                "client_id": string, "has_client_secret": { "type": "boolean" }, "scopes": string,
                "button_label": nullable("string"),
                "email_domains": strings, "provisioning": { "enum": ["jit", "existing"] },
                "link_verified_email": { "type": "boolean" }, "groups_claim": string,
                "id_jag": { "type": "boolean" }, "status": status,
                "redirect_uri": { "type": "string", "format": "uri", "description": "Register this at the provider" },
                "group_mappings": { "type": "array", "items": object(&["value", "group_id"],
                    json!({ "value": string, "group_id": string })) },
                "created_at": int, "updated_at": int
            }),
        ),
        "IdentityProviderPage": page("IdentityProvider"),
        "Identity": object(
            &["provider_id", "subject", "user_id", "email", "created_at", "last_sign_in_at"],
            json!({
                "provider_id": string, "subject": string, "user_id": string,
                "email": nullable("string"), "created_at": int, "last_sign_in_at": nullable("integer")
            }),
        ),
        "IdentityPage": page("Identity"),
        "Member": object(&["id", "name"], json!({ "id": string, "name": string })),
        "GroupMembers": object(&["users", "agents"],
            json!({ "users": list_of("Member"), "agents": list_of("Member") })),
        "Client": object(
            &with(&stamps, &["client_id", "kind", "name", "description", "client_type",
                "token_endpoint_auth_method", "redirect_uris", "grant_types", "status", "disabled_at",
                "resources", "metadata", "secret_rotated_at", "last_used_at"]),
            json!({
                "client_id": string,
                "kind": { "enum": ["application", "agent", "dynamic", "metadata"] },
                "name": string, "description": string,
                "client_type": { "enum": ["public", "confidential"] },
                "token_endpoint_auth_method": { "enum": ["none", "client_secret_basic", "client_secret_post"] },
                "redirect_uris": strings, "grant_types": strings,
                "owner": { "type": "string", "description": "Agents only" },
                "status": status, "disabled_at": nullable("integer"),
                "resources": strings,
                "metadata": { "type": "object", "description": "Registration metadata as received" },
                "secret_rotated_at": nullable("integer"), "last_used_at": nullable("integer"),
                "exchange": { "description": "Confidential clients, on a single client", "type": "array",
                    "items": object(&["from", "to"], json!({ "from": string, "to": string })) },
                "introspect": { "description": "Confidential clients, on a single client", "type": "array",
                    "items": { "type": "string" } },
                "client_secret": { "type": "string", "description": "Shown once, at creation" },
                "client_secret_expires_at": int,
                "created_at": int, "updated_at": int
            }),
        ),
        "ClientPage": page("Client"),
        "ClientSecret": object(&["client_id", "client_secret", "client_secret_expires_at"],
            json!({ "client_id": string, "client_secret": string, "client_secret_expires_at": int })),
        "Grant": object(
            &with(&stamps, &["client_id", "client_name", "resource_server_id", "resource", "resource_name", "scopes"]),
            json!({
                "client_id": string, "client_name": string, "resource_server_id": string,
                "resource": string, "resource_name": string, "scopes": strings,
                "created_at": int, "updated_at": int
            }),
        ),
        "GrantPage": page("Grant"),
        "Session": object(&["id", "created_at", "expires_at", "address", "user_agent"],
            json!({ "id": string, "created_at": int, "expires_at": int, "address": string, "user_agent": string })),
        "SessionPage": page("Session"),
        "BlastRadius": object(
            &["active_refresh_families", "live_token_grants", "distinct_users", "distinct_subjects",
              "resource_servers", "by_resource_server", "last_token_issued"],
            json!({
                "active_refresh_families": int, "live_token_grants": int, "distinct_users": int,
                "distinct_subjects": int, "resource_servers": int,
                "by_resource_server": { "type": "array", "items": object(
                    &["resource_server", "refresh_families", "live_token_grants"],
                    json!({ "resource_server": string, "refresh_families": int, "live_token_grants": int })) },
                "last_token_issued": nullable("integer")
            }),
        ),
        "Explain": object(
            &["principal", "principal_type", "status", "resource", "scopes"],
            json!({
                "principal": string, "principal_type": { "enum": ["user", "client"] }, "status": status,
                "resource": string,
                "scopes": { "type": "array", "items": object(&["scope", "via"], json!({
                    "scope": string,
                    "via": { "type": "array", "items": object(&["role"], json!({
                        "role": string, "group": string, "implied_by": string
                    })) }
                })) }
            }),
        ),
        "AuditEntry": object(
            &["id", "at", "actor", "action", "target_type", "target_id", "detail"],
            json!({
                "id": int, "at": int, "actor": string, "action": string, "target_type": string,
                "target_id": string, "detail": { "type": "object" }
            }),
        ),
        "AuditEntryPage": page("AuditEntry"),
        "Keys": object(&["keys"], json!({ "keys": { "type": "array", "items": object(
            &["kid", "state", "created_at", "activated_at", "publish_until"],
            json!({
                "kid": string, "state": { "enum": ["next", "active", "retired"] }, "created_at": int,
                "activated_at": nullable("integer"), "publish_until": nullable("integer")
            }),
        ) } })),
        "KeyRotation": object(&["active", "next", "retired", "retired_published_until"],
            json!({
                "active": string, "next": string, "retired": nullable("string"),
                "retired_published_until": nullable("integer")
            })),
        "ScopeHolders": object(&["scope", "items", "truncated"], json!({
            "scope": string,
            "items": { "type": "array", "items": object(&["type", "id", "name", "role_id", "role", "status"], json!({
                "type": { "enum": ["user", "group", "client"] }, "id": string, "name": string,
                "role_id": string, "role": string, "implied_by": nullable("string"), "via_group": nullable("string"),
                "status": status
            })) },
            "truncated": { "type": "boolean" }
        })),
        "Settings": object(&["registration", "password_signin", "max_token_ttl", "key_rotation_days", "audit_retention_days"], json!({
            "registration": { "type": "object" }, "password_signin": { "type": "boolean" },
            "max_token_ttl": int, "key_rotation_days": int, "audit_retention_days": nullable("integer")
        })),
        "Bootstrap": object(
            &["client_id", "client_secret", "client_secret_expires_at", "token_endpoint", "resource", "scope"],
            json!({
                "client_id": string, "client_secret": string, "client_secret_expires_at": int,
                "token_endpoint": string, "resource": string, "scope": string
            }),
        )
    })
}

/// The schema of an operation's success body, if it has one (`204` answers have none).
pub fn response_schema(op: Op) -> Option<&'static str> {
    use Op::*;
    Some(match op {
        RsList => "ResourceServerPage",
        RsCreate | RsGet | RsUpdate => "ResourceServer",
        ScopeList => "ScopePage",
        ScopeCreate | ScopeGet | ScopeUpdate => "Scope",
        ScopeHolders => "ScopeHolders",
        Settings => "Settings",
        RoleList | UserRoles | GroupRoles | AppRoles | ClientRoles => "RolePage",
        RoleCreate | RoleGet | RoleUpdate => "Role",
        UserList => "UserPage",
        UserCreate | UserGet | UserUpdate => "User",
        UserGrants => "GrantPage",
        UserSessions => "SessionPage",
        UserBlastRadius | ClientBlastRadius => "BlastRadius",
        GroupList => "GroupPage",
        GroupCreate | GroupGet | GroupUpdate => "Group",
        GroupMembers => "GroupMembers",
        AppList | AgentList | ClientList => "ClientPage",
        AppCreate | AppGet | AppUpdate | AgentCreate | AgentGet | AgentUpdate | ClientGet
        | ClientUpdate => "Client",
        AppSecret | AgentSecret => "ClientSecret",
        Explain => "Explain",
        Audit => "AuditEntryPage",
        Keys => "Keys",
        KeysRotate => "KeyRotation",
        Bootstrap => "Bootstrap",
        IdpList => "IdentityProviderPage",
        IdpCreate | IdpGet | IdpUpdate | IdpMappings => "IdentityProvider",
        UserIdentities | UserIdentityLink => "IdentityPage",
        OpenApi => return None,
        RsDelete | ScopeDelete | RoleDelete | UserDelete | UserRoleAdd | UserRoleRemove
        | UserGrantRevoke | UserSessionsEnd | GroupDelete | GroupUserAdd | GroupUserRemove
        | GroupAgentAdd | GroupAgentRemove | GroupRoleAdd | GroupRoleRemove | AppDelete
        | AppRoleAdd | AppRoleRemove | AgentDelete | ClientDelete | ClientRoleAdd
        | ClientRoleRemove | IdpDelete | UserIdentityUnlink => return None,
    })
}

#[cfg(not(target_arch = "wasm32"))]
/// The document as JSON.
pub fn value(config: &Config) -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let path = format!("{PREFIX}{}", r.pattern);
        let params: Vec<Value> = r
            .pattern
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut op = json!({
            "operationId": format!("{:?}", r.op),
            "summary": r.summary,
            "parameters": params,
            "responses": {
                r.status.to_string(): { "description": "Success" },
                "400": { "$ref": "#/components/responses/Error" },
                "401": { "$ref": "#/components/responses/Error" },
                "404": { "$ref": "#/components/responses/Error" },
                "409": { "$ref": "#/components/responses/Error" }
            }
        });
        if let (Some(schema), Some(ok)) = (
            response_schema(r.op),
            op.pointer_mut(&format!("/responses/{}", r.status)),
        ) {
            *ok = json!({
                "description": "Success",
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            });
        }
        if let (Some(schema), Some(o)) = (r.body, op.as_object_mut()) {
            o.insert("requestBody".into(), json!({
                "required": true,
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            }));
        }
        if r.pattern.starts_with("/resource-servers")
            && r.method == http::Method::GET
            && !r.pattern.contains('{')
            || [
                "/roles",
                "/users",
                "/groups",
                "/applications",
                "/agents",
                "/clients",
                "/audit",
            ]
            .contains(&r.pattern)
                && r.method == http::Method::GET
        {
            if let Some(list) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                if [
                    "/users",
                    "/groups",
                    "/roles",
                    "/clients",
                    "/applications",
                    "/agents",
                ]
                .contains(&r.pattern)
                {
                    list.push(json!({ "name": "q", "in": "query",
                        "description": "a name prefix (usernames for users): the matches, by name",
                        "schema": { "type": "string", "maxLength": 200 } }));
                }
                if r.pattern == "/audit" {
                    for (name, kind, what) in [
                        ("actor", "string", "who acted"),
                        ("target", "string", "the id acted on"),
                        ("action", "string", "an action, or a prefix ending in '.'"),
                        ("since", "integer", "at or after (unix seconds)"),
                        ("until", "integer", "before (unix seconds)"),
                    ] {
                        list.push(json!({ "name": name, "in": "query", "description": what, "schema": { "type": kind } }));
                    }
                }
                list.push(json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200 } }));
                list.push(
                    json!({ "name": "cursor", "in": "query", "schema": { "type": "string" } }),
                );
            }
        }
        if let Some(item) = paths
            .entry(path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            item.insert(r.method.as_str().to_ascii_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mcpgate admin API",
            "version": "1",
            "description": "Directory (resource servers, scopes, roles, users, groups, clients), permissions, audit and keys."
        },
        "servers": [{ "url": config.issuer }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(),
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            }
        }
    })
}

/// The server URL [`value`] is generated with, replaced by the deployment's issuer when served.
pub const SERVER_PLACEHOLDER: &str = "https://issuer.invalid";

/// The document as generated by [`value`] (with [`SERVER_PLACEHOLDER`]), kept in the source
/// tree: the Worker serves this text instead of linking the code that builds it (a test keeps
/// the two equal, and rewrites the file when `MCPGATE_UPDATE_OPENAPI` is set).
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /admin/v1/openapi.json`.
pub fn document(config: &Config) -> Response {
    let server = serde_json::to_string(&config.issuer).unwrap_or_else(|_| "\"\"".into());
    let body = DOCUMENT.replacen(&format!("\"{SERVER_PLACEHOLDER}\""), &server, 1);
    let mut resp = Response::new(body.into_bytes());
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    public_cache(resp, 300)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_served_document_is_the_one_the_routes_and_schemas_generate() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = Config::from_vars(|name| match name {
            crate::config::vars::ISSUER => Some(SERVER_PLACEHOLDER.to_owned()),
            crate::config::vars::SECRET | crate::config::vars::ADMIN_TOKEN => {
                Some(secret.to_owned())
            }
            _ => None,
        })
        .unwrap();
        let generated = value(&config);
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/endpoints/admin/openapi.json"
        );
        if std::env::var_os("MCPGATE_UPDATE_OPENAPI").is_some() {
            let text = serde_json::to_string(&generated).unwrap();
            std::fs::write(path, text).unwrap();
            return;
        }
        let kept: Value = serde_json::from_str(DOCUMENT).unwrap();
        assert!(
            kept == generated,
            "{path} is out of date: run `MCPGATE_UPDATE_OPENAPI=1 cargo test -p mcpgate-core --lib openapi`"
        );
    }
}
