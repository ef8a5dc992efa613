//! `POST /v1/check`: a check document in, `check --format json`'s document out.
//!
//! A small body (up to [`INLINE_BODY`], its length announced) is read whole and checked
//! on the spot. Any other is *streamed*: a task feeds the body's pieces through a bounded
//! channel to the document reader on a blocking thread, which writes the answer into
//! another bounded channel — so a batch of any length goes through in bounded memory, as
//! in the CLI. The answer's head waits until [`HOLD`] bytes of answer are ready or the
//! document is done: an answer that fits is sent whole with its true status (200, or 400 /
//! 413 with the located error); a longer one is sent as it is written, with status 200,
//! and a batch cut short after that point ends with the same `error` member the CLI
//! writes (the status was already sent).

use std::io::{self, BufReader, Read, Write};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::{answer, answer_from, Rules, Shared};
use crate::model::{DocumentError, DocumentFormat, Timestamp};
use crate::render::{check_document, CheckOptions, CheckRun, JsonWriter, Summary};
use crate::rules::Lang;

/// Bodies up to this size (with a `Content-Length`) are read whole and checked inline.
const INLINE_BODY: u64 = 64 * 1024;
/// Answer bytes held back before the head is sent (so a short answer gets its status).
const HOLD: usize = 64 * 1024;
/// Body pieces and answer pieces in flight between the tasks.
const PIECES: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckQuery {
    lang: Option<String>,
    explain: Option<String>,
}

/// What the request asked for.
struct Asked {
    lang: Lang,
    options: CheckOptions,
}

pub(super) async fn check(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
) -> Response {
    // The request taken apart rather than through the `HeaderMap` extractor, which
    // copies every header of every request.
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let query = Query::<CheckQuery>::try_from_uri(&parts.uri);
    // One rule set for the whole answer, however long a reload takes.
    let rules = shared.current();
    let asked = match asked(query, &headers) {
        Ok(a) => a,
        Err((status, message)) => return refused(&rules.version, status, &message),
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) if n <= INLINE_BODY => inline(&shared, &rules, &asked, body).await,
        _ => streamed(shared, rules, asked, body).await,
    }
}

fn asked(
    query: Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
    headers: &HeaderMap,
) -> Result<Asked, (StatusCode, String)> {
    let Query(query) = query.map_err(|e| (StatusCode::BAD_REQUEST, super::query_message(&e)))?;
    let lang =
        super::parse_lang(query.lang.as_deref()).map_err(|m| (StatusCode::BAD_REQUEST, m))?;
    let explain = match query.explain.as_deref() {
        None | Some("false") => false,
        Some("true") | Some("") => true,
        Some(other) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid `explain` value `{}`: expected `true` or `false`",
                    other.escape_debug()
                ),
            ))
        }
    };
    let format = content_format(headers).map_err(|m| (StatusCode::UNSUPPORTED_MEDIA_TYPE, m))?;
    Ok(Asked {
        lang,
        options: CheckOptions {
            format,
            explain,
            // Time is an input of the engine; the clock is read here, at the edge.
            now: Timestamp::now_jst(),
            stop_on_write_error: true,
        },
    })
}

/// The document syntax a `Content-Type` names: JSON, YAML, or (none, `text/plain`,
/// `application/octet-stream`, and curl's default `application/x-www-form-urlencoded`)
/// sniffed as the CLI does.
fn content_format(headers: &HeaderMap) -> Result<Option<DocumentFormat>, String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Some(DocumentFormat::Json)),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
            Ok(Some(DocumentFormat::Yaml))
        }
        "" | "text/plain" | "application/octet-stream" | "application/x-www-form-urlencoded" => {
            Ok(None)
        }
        e if e.ends_with("+json") => Ok(Some(DocumentFormat::Json)),
        e if e.ends_with("+yaml") => Ok(Some(DocumentFormat::Yaml)),
        _ => Err(format!(
            "unsupported content type `{}`: send `application/json` or `application/yaml`",
            text.escape_debug()
        )),
    }
}

/// An answer in the check document's shape carrying only an error (a bad query or
/// content type: nothing was read).
fn refused(version: &str, status: StatusCode, message: &str) -> Response {
    let mut out = Vec::new();
    let mut writer = JsonWriter::new(Lang::Ja);
    let error =
        serde_json::json!({ "message": message, "path": ".", "line": null, "column": null });
    let _ = crate::render::ResultWriter::begin(&mut writer, &mut out);
    let _ =
        crate::render::ResultWriter::end(&mut writer, &mut out, Summary::default(), Some(&error));
    answer(status, version, "application/json", out)
}

/// The status of a finished check: 200, or the located error's 400 / 413.
fn status_of(run: &CheckRun) -> StatusCode {
    match &run.read {
        Ok(_) => StatusCode::OK,
        Err(e) if too_large(e) => StatusCode::PAYLOAD_TOO_LARGE,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// An input over the limit (a document, or an entry of a streamed batch).
fn too_large(e: &DocumentError) -> bool {
    e.message
        .contains(&crate::model::limits::too_large_message())
}

async fn inline(shared: &Shared, rules: &Rules, asked: &Asked, body: Body) -> Response {
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return refused(
                &rules.version,
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            )
        }
    };
    // A denial's answer is about 2.4 KB: one allocation, no growing.
    let mut out = Vec::with_capacity(4096);
    let mut writer = JsonWriter::with_fragments(rules.fragments(asked.lang));
    let run = check_document(
        &rules.engine,
        &bytes[..],
        &asked.options,
        &mut writer,
        &mut out,
        &mut |request, verdict| shared.metrics.count(request, verdict),
    );
    answer_from(rules, status_of(&run), "application/json", out)
}

/// The head of a streamed answer.
enum Head {
    /// The whole answer, with its status.
    Whole(StatusCode, Vec<u8>),
    /// More than [`HOLD`] bytes: 200, and the answer follows on the channel.
    Streaming,
}

async fn streamed(shared: Arc<Shared>, rules: Arc<Rules>, asked: Asked, body: Body) -> Response {
    let version = rules.version.clone();
    let Ok(permit) = shared.streams.clone().acquire_owned().await else {
        return refused(
            &version,
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is stopping",
        );
    };
    let (pieces_tx, pieces_rx) = mpsc::channel::<io::Result<Bytes>>(PIECES);
    let (answer_tx, answer_rx) = mpsc::channel::<Bytes>(PIECES);
    let (head_tx, head_rx) = oneshot::channel::<Head>();
    let idle = shared.body_idle;
    tokio::spawn(pump(body, pieces_tx, idle));
    let metrics = shared.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let reader = BufReader::with_capacity(64 * 1024, PieceReader::new(pieces_rx));
        let mut out = HeldWriter {
            head: Some(head_tx),
            pieces: answer_tx,
            buf: Vec::with_capacity(HOLD),
        };
        let mut writer = JsonWriter::with_fragments(rules.fragments(asked.lang));
        let run = check_document(
            &rules.engine,
            reader,
            &asked.options,
            &mut writer,
            &mut out,
            &mut |request, verdict| metrics.metrics.count(request, verdict),
        );
        out.finish(status_of(&run));
    });
    match head_rx.await {
        Ok(Head::Whole(status, bytes)) => answer(status, &version, "application/json", bytes),
        Ok(Head::Streaming) => {
            let mut response = answer(StatusCode::OK, &version, "application/json", Vec::new());
            *response.body_mut() = Body::new(AnswerBody { pieces: answer_rx });
            response
        }
        Err(_) => refused(
            &version,
            StatusCode::INTERNAL_SERVER_ERROR,
            "the check stopped without an answer",
        ),
    }
}

/// Feeds the request body's pieces to the reader; a body that stalls longer than `idle`
/// between pieces is cut off (the reader sees an error).
async fn pump(mut body: Body, pieces: mpsc::Sender<io::Result<Bytes>>, idle: std::time::Duration) {
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(idle, body.frame()) => next,
            // The reader is done (an error, or the client left): stop reading the body.
            _ = pieces.closed() => return,
        };
        let piece = match next {
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the body stalled for more than {}s", idle.as_secs()),
            )),
            Ok(None) => return,
            Ok(Some(Err(e))) => Err(io::Error::other(format!("cannot read the body: {e}"))),
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if data.is_empty() => continue,
                Ok(data) => Ok(data),
                Err(_) => continue,
            },
        };
        let failed = piece.is_err();
        if pieces.send(piece).await.is_err() || failed {
            return;
        }
    }
}

/// The body's pieces as a blocking `Read`.
struct PieceReader {
    pieces: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl PieceReader {
    fn new(pieces: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        PieceReader {
            pieces,
            current: Bytes::new(),
        }
    }
}

impl Read for PieceReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.pieces.blocking_recv() {
                Some(Ok(piece)) => self.current = piece,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Holds the answer back until [`HOLD`] bytes are written (then says "streaming" and
/// sends them on) or the check finishes (then sends it whole with its status).
struct HeldWriter {
    head: Option<oneshot::Sender<Head>>,
    pieces: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl HeldWriter {
    fn send(&mut self) -> io::Result<()> {
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the client left");
        if let Some(head) = self.head.take() {
            head.send(Head::Streaming).map_err(|_| gone())?;
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(HOLD)));
        self.pieces.blocking_send(piece).map_err(|_| gone())
    }

    fn finish(mut self, status: StatusCode) {
        match self.head.take() {
            Some(head) => {
                let _ = head.send(Head::Whole(status, std::mem::take(&mut self.buf)));
            }
            None => {
                if !self.buf.is_empty() {
                    let _ = self.send();
                }
            }
        }
    }
}

impl Write for HeldWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= HOLD {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The streamed answer's body: the pieces the check writes, until it is done.
struct AnswerBody {
    pieces: mpsc::Receiver<Bytes>,
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.pieces
            .poll_recv(cx)
            .map(|piece| piece.map(|p| Ok(http_body::Frame::data(p))))
    }
}
