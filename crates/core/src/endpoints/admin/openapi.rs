//! The admin API's OpenAPI 3.1 document, generated from the route table so that the document
//! and the routing cannot disagree.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::routes::ROUTES;
use super::PREFIX;
use crate::config::Config;
use crate::wire::{json as json_response, public_cache, Response};

fn string_list() -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "maxItems": 100 })
}

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

/// JSON Schemas of the request bodies (unknown fields are rejected).
fn schemas() -> Value {
    let scope_create = json!({
        "type": "object", "additionalProperties": false, "required": ["name"],
        "properties": {
            "name": { "type": "string", "description": "RFC 6749 scope token" },
            "description": { "type": "string", "description": "Shown on the consent page" },
            "implies": string_list()
        }
    });
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
                "scopes": { "type": "array", "items": scope_create, "maxItems": 100 }
            }
        },
        "ResourceServerPatch": {
            "type": "object", "additionalProperties": false,
            "properties": {
                "name": { "type": "string" }, "description": { "type": "string" },
                "access_token_ttl": { "type": "integer", "minimum": 60 },
                "allow_self_registered": { "type": "boolean" },
                "self_registered_max_scopes": nullable_list, "default_scopes": nullable_list
            }
        },
        "ScopeCreate": scope_create,
        "ScopePatch": {
            "type": "object", "additionalProperties": false,
            "properties": { "description": { "type": "string" }, "implies": string_list() }
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

/// `GET /admin/v1/openapi.json`.
pub fn document(config: &Config) -> Response {
    public_cache(json_response(StatusCode::OK, &value(config)), 300)
}
