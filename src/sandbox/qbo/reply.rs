//! An answer the emulator can keep.
//!
//! A write repeated with the same `requestid` must get the original answer back byte for byte,
//! so answers are built as plain data (status, content type, body) that the request-id memory
//! can store and replay, and only turned into an HTTP response at the edge.

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The content type QBO sends with JSON.
pub const JSON: &str = "application/json;charset=UTF-8";

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: StatusCode, value: &Value) -> Reply {
        Reply { status, content_type: JSON, body: Bytes::from(value.to_string()) }
    }

    pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Reply {
        Reply { status, content_type, body: Bytes::from(body) }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}
