//! The MCP tools and the note store.
//!
//! Notes live in memory, per subject (`sub` of the access token): a user sees and edits only
//! their own notes, whatever client or agent acts for them. Ids are unique across subjects, so
//! one user's id is simply "not found" for another.
//!
//! Scopes are enforced before a call reaches these handlers ([`crate::auth`] answers 403 so the
//! client can step up); each handler still checks its scope against the [`Caller`] it is
//! handed, so a mistake in the HTTP layer fails closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::request::Parts;
use mcpgate_guard::ScopePolicy;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, Json, ServerHandler};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::unix_now;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most notes one subject may keep.
pub const MAX_NOTES_PER_SUBJECT: usize = 1000;

/// A note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// Unique id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Text.
    pub body: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// A note in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoteSummary {
    /// Unique id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// Your notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoteList {
    /// The caller's notes, oldest first.
    pub notes: Vec<NoteSummary>,
}

/// A deleted note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    /// The deleted note's id.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

/// Which note.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct NoteRef {
    /// The note's id, as returned by `create_note` or `list_notes`.
    pub id: String,
}

/// A new note.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct NewNote {
    /// Title (at most 200 characters).
    pub title: String,
    /// Text (at most 64 KiB).
    pub body: String,
}

/// The fields of a note to change.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct NoteChange {
    /// The note's id.
    pub id: String,
    /// New title, if it changes.
    #[serde(default)]
    pub title: Option<String>,
    /// New text, if it changes.
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    note: Note,
}

/// Notes of every subject, in memory.
#[derive(Debug, Default)]
pub struct NoteStore {
    next: AtomicU64,
    by_subject: Mutex<HashMap<String, HashMap<String, Stored>>>,
}

impl NoteStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, Stored>>> {
        // Every update below leaves the map consistent, so a poisoned lock is still usable.
        self.by_subject.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The subject's notes, oldest first.
    pub fn list(&self, subject: &str) -> Vec<NoteSummary> {
        let all = self.lock();
        let mut notes: Vec<&Stored> = all
            .get(subject)
            .map(|n| n.values().collect())
            .unwrap_or_default();
        notes.sort_by_key(|s| s.seq);
        notes
            .into_iter()
            .map(|s| NoteSummary {
                id: s.note.id.clone(),
                title: s.note.title.clone(),
                updated_at: s.note.updated_at,
            })
            .collect()
    }

    /// One of the subject's notes.
    pub fn get(&self, subject: &str, id: &str) -> Option<Note> {
        self.lock()
            .get(subject)
            .and_then(|n| n.get(id))
            .map(|s| s.note.clone())
    }

    /// Creates a note for the subject.
    pub fn create(&self, subject: &str, title: String, body: String) -> Result<Note, String> {
        check_title(&title)?;
        check_body(&body)?;
        let mut all = self.lock();
        let notes = all.entry(subject.to_owned()).or_default();
        if notes.len() >= MAX_NOTES_PER_SUBJECT {
            return Err(format!(
                "you already have {MAX_NOTES_PER_SUBJECT} notes; delete some first"
            ));
        }
        let seq = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let now = unix_now();
        let note = Note {
            id: format!("n{seq}"),
            title,
            body,
            created_at: now,
            updated_at: now,
        };
        notes.insert(
            note.id.clone(),
            Stored {
                seq,
                note: note.clone(),
            },
        );
        Ok(note)
    }

    /// Changes a note of the subject.
    pub fn update(&self, subject: &str, change: NoteChange) -> Result<Note, String> {
        if let Some(t) = &change.title {
            check_title(t)?;
        }
        if let Some(b) = &change.body {
            check_body(b)?;
        }
        let mut all = self.lock();
        let stored = all
            .get_mut(subject)
            .and_then(|n| n.get_mut(&change.id))
            .ok_or_else(|| not_found(&change.id))?;
        if let Some(t) = change.title {
            stored.note.title = t;
        }
        if let Some(b) = change.body {
            stored.note.body = b;
        }
        stored.note.updated_at = unix_now();
        Ok(stored.note.clone())
    }

    /// Deletes a note of the subject.
    pub fn delete(&self, subject: &str, id: &str) -> Result<(), String> {
        let mut all = self.lock();
        let notes = all.get_mut(subject).ok_or_else(|| not_found(id))?;
        notes.remove(id).ok_or_else(|| not_found(id))?;
        if notes.is_empty() {
            all.remove(subject);
        }
        Ok(())
    }
}

fn not_found(id: &str) -> String {
    format!("no note with id {id:?}")
}

fn check_title(title: &str) -> Result<(), String> {
    if title.trim().is_empty() {
        return Err("title must not be empty".into());
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("title is longer than {MAX_TITLE_CHARS} characters"));
    }
    Ok(())
}

fn check_body(body: &str) -> Result<(), String> {
    if body.len() > MAX_BODY_BYTES {
        return Err(format!("body is larger than {MAX_BODY_BYTES} bytes"));
    }
    Ok(())
}

/// The MCP server: one instance per MCP session, all sharing one [`NoteStore`].
#[derive(Debug, Clone)]
pub struct NotesServer {
    store: Arc<NoteStore>,
    policy: Arc<ScopePolicy>,
    tool_router: ToolRouter<Self>,
}

impl NotesServer {
    /// A server over `store`, re-checking scopes with `policy`.
    pub fn new(store: Arc<NoteStore>, policy: Arc<ScopePolicy>) -> Self {
        NotesServer {
            store,
            policy,
            tool_router: Self::tool_router(),
        }
    }

    /// The caller of this request, if its token may call `tool`.
    fn caller(&self, parts: &Parts, tool: &str) -> Result<Caller, String> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or("no verified access token on this request")?;
        self.policy
            .authorize(tool, caller.token())
            .map_err(|e| e.to_string())?;
        Ok(caller)
    }
}

#[tool_router]
impl NotesServer {
    #[tool(
        description = "List your notes (id, title, last change), oldest first. Requires scope notes.read.",
        annotations(read_only_hint = true)
    )]
    async fn list_notes(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<Json<NoteList>, String> {
        let caller = self.caller(&parts, "list_notes")?;
        Ok(Json(NoteList {
            notes: self.store.list(caller.subject()),
        }))
    }

    #[tool(
        description = "Read one of your notes by id. Requires scope notes.read.",
        annotations(read_only_hint = true)
    )]
    async fn read_note(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(NoteRef { id }): Parameters<NoteRef>,
    ) -> Result<Json<Note>, String> {
        let caller = self.caller(&parts, "read_note")?;
        self.store
            .get(caller.subject(), &id)
            .map(Json)
            .ok_or_else(|| not_found(&id))
    }

    #[tool(
        description = "Create a note with a title and a body; returns it with its id. Requires scope notes.write.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn create_note(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(NewNote { title, body }): Parameters<NewNote>,
    ) -> Result<Json<Note>, String> {
        let caller = self.caller(&parts, "create_note")?;
        self.store.create(caller.subject(), title, body).map(Json)
    }

    #[tool(
        description = "Change the title and/or the body of one of your notes. Requires scope notes.write.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true
        )
    )]
    async fn update_note(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(change): Parameters<NoteChange>,
    ) -> Result<Json<Note>, String> {
        let caller = self.caller(&parts, "update_note")?;
        self.store.update(caller.subject(), change).map(Json)
    }

    #[tool(
        description = "Delete one of your notes by id. Requires scope notes.delete.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false
        )
    )]
    async fn delete_note(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(NoteRef { id }): Parameters<NoteRef>,
    ) -> Result<Json<Deleted>, String> {
        let caller = self.caller(&parts, "delete_note")?;
        self.store.delete(caller.subject(), &id)?;
        Ok(Json(Deleted { id, deleted: true }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("notes-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Personal notes. list_notes and read_note need scope notes.read; create_note \
                 and update_note need notes.write (which includes notes.read); delete_note \
                 needs notes.delete. A call without the scope is refused with HTTP 403 \
                 insufficient_scope so the client can re-authorize.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_kept_per_subject() {
        let s = NoteStore::default();
        let a = s.create("alice", "t".into(), "b".into()).unwrap();
        assert_eq!(s.get("alice", &a.id).unwrap().title, "t");
        assert!(s.get("bob", &a.id).is_none());
        assert!(s.delete("bob", &a.id).is_err());
        assert!(s.list("bob").is_empty());
        s.delete("alice", &a.id).unwrap();
        assert!(s.list("alice").is_empty());
    }

    #[test]
    fn rejects_empty_titles_and_oversized_bodies() {
        let s = NoteStore::default();
        assert!(s.create("a", " ".into(), String::new()).is_err());
        assert!(s
            .create("a", "t".into(), "x".repeat(MAX_BODY_BYTES + 1))
            .is_err());
    }
}
