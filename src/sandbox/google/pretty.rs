//! Answers pretty-printed unless the client asks otherwise, as Google's are.
//!
//! Google APIs indent every JSON answer and break it into lines unless the request says
//! `prettyPrint=false` (a standard query parameter of every Google API, "Returns response with
//! indentations and line breaks", default true); the recorded answers in
//! `tests/fixtures/sheets` are all indented. On a whole-tab read that is most of the bytes: a
//! grid answer's cell sits eight levels deep. So the sandbox answers as Google does, and a
//! client that does not ask for compact answers pays for it here as it would there.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::Response;

/// The middleware: a JSON answer is indented unless the query says `prettyPrint=false`.
pub async fn as_asked(request: Request, next: Next) -> Response {
    let compact = request.uri().query().is_some_and(|query| {
        url::form_urlencoded::parse(query.as_bytes()).any(|(name, value)| name == "prettyPrint" && value == "false")
    });
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if compact || !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(indent(&bytes)))
}

/// `json` indented as Google indents: two spaces a level, `"key": value`, empty objects and
/// arrays as `{}` and `[]`, a line break at the end. Text inside strings is copied as it is.
pub fn indent(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    let mut bytes = json.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        if in_string {
            out.push(byte);
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(byte);
            }
            b'{' | b'[' => {
                out.push(byte);
                while bytes.next_if(u8::is_ascii_whitespace).is_some() {}
                if let Some(&close @ (b'}' | b']')) = bytes.peek() {
                    out.push(close);
                    bytes.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(byte);
            }
            b',' => {
                out.push(byte);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            other => out.push(other),
        }
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_indented_as_googles_recorded_ones_are() {
        let compact = br#"{"spreadsheetId":"s","sheets":[{"data":[{"rowData":[{"values":[{"effectiveValue":{"stringValue":"a, \"b\": {c}"}},{}]}]}]}],"empty":[]}"#;
        let expected = r#"{
  "spreadsheetId": "s",
  "sheets": [
    {
      "data": [
        {
          "rowData": [
            {
              "values": [
                {
                  "effectiveValue": {
                    "stringValue": "a, \"b\": {c}"
                  }
                },
                {}
              ]
            }
          ]
        }
      ]
    }
  ],
  "empty": []
}
"#;
        assert_eq!(String::from_utf8(indent(compact)).unwrap(), expected);
        let value: serde_json::Value = serde_json::from_slice(&indent(compact)).unwrap();
        assert_eq!(value, serde_json::from_slice::<serde_json::Value>(compact).unwrap());
    }

    #[test]
    fn a_recorded_answer_is_indented_exactly_as_google_sent_it() {
        let cassette: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/sheets/cassette_values_get_render_options.json"
        ))
        .unwrap();
        let recorded = cassette["interactions"][1]["response"]["body"]["string"].as_str().unwrap();
        let compact = serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(recorded).unwrap()).unwrap();
        let parsed = |text: &[u8]| serde_json::from_slice::<serde_json::Value>(text).unwrap();
        assert_eq!(parsed(&indent(&compact)), parsed(recorded.as_bytes()));
        assert_eq!(indent(&compact).iter().filter(|b| **b == b'\n').count(), recorded.matches('\n').count());
    }
}
