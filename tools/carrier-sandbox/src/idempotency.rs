//! Idempotency keys: the first successful response to a request carrying an `Idempotency-Key`
//! is stored, and a later request with the same key gets it back instead of running again.
//!
//! Keys are scoped per API. A stored key matches a later request only if that request has the
//! same path and the same JSON body (compared as JSON values, so key order and whitespace do not
//! matter); anything else is a reuse of the key for a different request, which each API refuses
//! in its own error shape. Only successful (2xx) answers are stored: a request that failed did
//! not execute (fault, validation error, …) and leaves its key free for the retry.

use std::collections::HashMap;

use serde_json::Value;

use crate::control::Api;
use crate::server::Reply;

#[derive(Default)]
pub(crate) struct IdempotencyStore {
    entries: HashMap<(Api, String), Entry>,
}

struct Entry {
    path: String,
    body: Value,
    reply: Reply,
}

/// What a request with an idempotency key amounts to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// The key is unused: run the request.
    Fresh,
    /// The same request ran before: answer this.
    Replay(Reply),
    /// The key belongs to a different request.
    Mismatch,
}

impl IdempotencyStore {
    /// `body` is `None` when the request body is not JSON (it never matches a stored request).
    pub(crate) fn lookup(&self, api: Api, key: &str, path: &str, body: Option<&Value>) -> Lookup {
        match self.entries.get(&(api, key.to_owned())) {
            None => Lookup::Fresh,
            Some(entry) if entry.path == path && Some(&entry.body) == body => {
                Lookup::Replay(entry.reply.clone())
            }
            Some(_) => Lookup::Mismatch,
        }
    }

    /// Stores a successful answer; answers that are not 2xx are not stored.
    pub(crate) fn store(&mut self, api: Api, key: &str, path: &str, body: Value, reply: &Reply) {
        if reply.status.is_success() {
            self.entries.insert(
                (api, key.to_owned()),
                Entry {
                    path: path.to_owned(),
                    body,
                    reply: reply.clone(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;

    fn created(id: &str) -> Reply {
        Reply::new(StatusCode::CREATED, json!({ "id": id }))
    }

    #[test]
    fn same_key_same_request_replays_the_stored_answer() {
        let mut store = IdempotencyStore::default();
        let body = json!({"a": 1, "b": [1, 2]});
        assert_eq!(
            store.lookup(Api::EasyPost, "k1", "/p", Some(&body)),
            Lookup::Fresh
        );
        store.store(Api::EasyPost, "k1", "/p", body, &created("shp_1"));
        // Key order does not matter.
        let same: Value = serde_json::from_str(r#"{"b": [1, 2], "a": 1}"#).unwrap();
        assert_eq!(
            store.lookup(Api::EasyPost, "k1", "/p", Some(&same)),
            Lookup::Replay(created("shp_1"))
        );
    }

    #[test]
    fn same_key_different_request_is_a_mismatch() {
        let mut store = IdempotencyStore::default();
        store.store(Api::Shippo, "k1", "/p", json!({"a": 1}), &created("x"));
        let other = json!({"a": 2});
        assert_eq!(
            store.lookup(Api::Shippo, "k1", "/p", Some(&other)),
            Lookup::Mismatch
        );
        assert_eq!(
            store.lookup(Api::Shippo, "k1", "/q", Some(&json!({"a": 1}))),
            Lookup::Mismatch
        );
        assert_eq!(
            store.lookup(Api::Shippo, "k1", "/p", None),
            Lookup::Mismatch
        );
    }

    #[test]
    fn keys_are_scoped_per_api_and_failures_are_not_stored() {
        let mut store = IdempotencyStore::default();
        let body = json!({});
        store.store(Api::Generic, "k1", "/p", body.clone(), &created("x"));
        assert_eq!(
            store.lookup(Api::EasyPost, "k1", "/p", Some(&body)),
            Lookup::Fresh
        );
        let failed = Reply::new(StatusCode::UNPROCESSABLE_ENTITY, json!({}));
        store.store(Api::EasyPost, "k2", "/p", body.clone(), &failed);
        assert_eq!(
            store.lookup(Api::EasyPost, "k2", "/p", Some(&body)),
            Lookup::Fresh
        );
    }
}
