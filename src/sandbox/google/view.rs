//! A read-only HTML page at each spreadsheet's `spreadsheetUrl`, so the links qbsync shows
//! (status page, logs, the demo) open something a person can look at.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::GoogleEmulator;
use super::a1;
use super::spreadsheet::Rect;
use super::values::{self, Render, ValueRender};

/// `GET /spreadsheets/d/{id}/edit`: every tab's used cells as formatted values, with the rows
/// that carry developer metadata marked.
pub async fn page(State(emulator): State<Arc<GoogleEmulator>>, Path(id): Path<String>) -> Response {
    let state = emulator.lock();
    let Some(ss) = state.spreadsheets.get(&id) else {
        return (StatusCode::NOT_FOUND, Html("<h1>No such spreadsheet</h1>".to_owned())).into_response();
    };
    let render = Render { value: ValueRender::Formatted, ..Render::default() };
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>{0} (qbsync sandbox)</title><style>\
         body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}\
         th{{background:#eee}}tr.anchored td:first-child{{background:#ffe8a0}}</style></head><body><h1>{0}</h1>\
         <p>Version {1} &middot; modified {2}</p>",
        escape(&ss.title),
        ss.version,
        ss.modified_time.to_rfc3339()
    );
    for (sheet, s) in ss.sheets.iter().enumerate() {
        let width = s.used_columns();
        let _ = write!(html, "<h2>{}</h2><table><tr><th></th>", escape(&s.title));
        for c in 0..width {
            let _ = write!(html, "<th>{}</th>", a1::column_letters(c));
        }
        html.push_str("</tr>");
        for r in 0..s.used_rows() {
            let anchored = ss.metadata.values().any(|m| {
                m.anchor.locate(ss).and_then(|l| l.rect(ss))
                    == Some(Rect { sheet, r0: r, r1: r + 1, c0: 0, c1: s.columns.len() })
            });
            let _ = write!(html, "<tr{}><td>{}</td>", if anchored { " class=anchored" } else { "" }, r + 1);
            for c in 0..width {
                let text = values::render_cell(ss, sheet, r, c, render)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let _ = write!(html, "<td>{}</td>", escape(&text));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>");
    Html(html).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
