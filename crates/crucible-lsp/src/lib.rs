//! The language server behind `crucible lsp`: completions filled with the model's
//! fill-in-the-middle tokens and repository context, and a code action that implements a
//! Python function from its docstring and verifies it on the docstring's examples.
//!
//! Transport and types come from `tower-lsp-server` (the maintained fork of tower-lsp). The
//! work goes through crucible-core, the same functions as the CLI: [`crucible_core::complete`]
//! for completions (with [`crucible_core::repo_context`]), [`crucible_core::implement`] and
//! `generate_for_task` for the code action. One model thread ([`worker`]) owns the generator
//! and the index; the index follows `didSave` (only the saved file is re-read).
//!
//! Completions come as `textDocument/completion` and as LSP 3.18's
//! `textDocument/inlineCompletion` (a custom method for tower-lsp-server 0.23), one path for
//! both. A request that follows the one before by less than [`LspConfig::debounce`] (a burst
//! of keystrokes) waits that long for a newer one; a request after a pause starts at once. A
//! newer completion request of either kind supersedes an older one, which then answers nothing and stops decoding at its next token, as does one
//! the client cancels (`$/cancelRequest`).

mod documents;
mod relay;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, oneshot};
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CodeActionResponse, CompletionItem, CompletionItemKind,
    CompletionOptions, CompletionParams, CompletionResponse, CompletionTextEdit, Diagnostic,
    DiagnosticSeverity, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, InitializeParams, InitializeResult,
    InitializedParams, InlineCompletionItem, InlineCompletionParams, InlineCompletionResponse,
    InsertTextFormat, MessageType, OneOf, Position, Range, ServerCapabilities, ServerInfo,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
    WorkspaceEdit,
};
use tower_lsp_server::{Client, LanguageServer, LspService};

use crucible_core::Settings;
use crucible_core::generate::{DEFAULT_STRATEGY, Plan};
use crucible_core::implement::{function_text, python_function_at};
use crucible_core::repo_context::{DEFAULT_BUDGET_TOKENS, RepoOptions};
use crucible_core::strategy::{Budget, Strategy};
use crucible_core::types::{Decoding, GenParams};

use documents::Documents;
pub use worker::GeneratorFactory;
use worker::{Completion, Job, Worker};

/// How the server works.
#[derive(Debug, Clone)]
pub struct LspConfig {
    /// The repository for context; `None`: the workspace root the client names, if any.
    pub repo: Option<PathBuf>,
    /// Its index directory; `None`: the default under `CRUCIBLE_HOME`.
    pub index_dir: Option<PathBuf>,
    /// No repository context at all.
    pub no_context: bool,
    /// Tokens of repository context at most.
    pub budget_tokens: usize,
    /// Rank repository context by BM25 and embeddings fused (hybrid search) once the index's
    /// chunks are embedded: the model thread embeds them between requests (BM25 meanwhile), then
    /// a saved file's new chunks with its update.
    pub embeddings: bool,
    /// Tokens a completion writes at most.
    pub max_new_tokens: usize,
    /// How long a completion request that follows the one before by less than this waits for
    /// a newer one before it starts (a request after a pause starts at once: it has nothing
    /// to wait for, and an older request still decoding stops at its next token).
    pub debounce: Duration,
    /// The budget of "implement and verify".
    pub budget: Budget,
    /// Seed of the strategy.
    pub seed: u64,
}

impl Default for LspConfig {
    fn default() -> LspConfig {
        LspConfig {
            repo: None,
            index_dir: None,
            no_context: false,
            budget_tokens: DEFAULT_BUDGET_TOKENS,
            embeddings: false,
            max_new_tokens: 64,
            debounce: Duration::from_millis(60),
            budget: Budget {
                model_calls: 12,
                tokens: 16_000,
                executions: 200,
                wall_time: Duration::from_secs(300),
            },
            seed: 0,
        }
    }
}

/// The code action's title. Actions are listed cheaply and run only when the client resolves
/// one (`codeAction/resolve`), since editors ask for actions as the cursor moves.
const ACTION_TITLE: &str = "Crucible: implement this function and verify it";

/// The language server.
pub struct Backend {
    client: Client,
    config: LspConfig,
    settings: Settings,
    factory: std::sync::Mutex<Option<GeneratorFactory>>,
    worker: std::sync::OnceLock<Worker>,
    documents: Mutex<Documents>,
    root: std::sync::OnceLock<Option<PathBuf>>,
    /// Set when the client sent `shutdown` (the exit code depends on it).
    shut_down: Arc<AtomicBool>,
    /// When the last completion request arrived (whether the next one is part of a burst).
    last_request: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Backend {
    fn worker(&self) -> RpcResult<&Worker> {
        self.worker.get().ok_or_else(|| RpcError {
            code: tower_lsp_server::jsonrpc::ErrorCode::ServerError(-32002),
            message: "the server is not initialized: send `initialize` first".into(),
            data: None,
        })
    }

    /// Fill the gap at `at` (the one path behind `completion` and `inlineCompletion`): wait
    /// the debounce if the request is part of a burst ([`Backend::in_burst`]), give up if a
    /// newer request came, run the job on the model thread.
    /// `Ok(None)`: superseded or cancelled. `method` names the request in errors.
    async fn complete_at(
        &self,
        method: &str,
        at: &TextDocumentPositionParams,
    ) -> RpcResult<Option<Completion>> {
        let received = std::time::Instant::now();
        let worker = self.worker()?;
        let turn = worker.latest.fetch_add(1, Ordering::SeqCst) + 1;
        let (prefix, suffix) = {
            let documents = self.documents.lock().await;
            let Some(document) = documents.get(&at.text_document.uri) else {
                return Err(invalid(format!(
                    "{method} in `{}`, which is not open (send didOpen first)",
                    at.text_document.uri.as_str()
                )));
            };
            let offset = documents::offset(&document.text, at.position).map_err(invalid)?;
            (
                document.text[..offset].to_string(),
                document.text[offset..].to_string(),
            )
        };
        if self.in_burst(received) {
            tokio::time::sleep(self.config.debounce).await;
        }
        if worker.latest.load(Ordering::SeqCst) != turn {
            return Ok(None);
        }
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancelled.clone());
        let (reply, answer) = oneshot::channel();
        let job = Job::Complete {
            turn,
            cancelled,
            prefix,
            suffix,
            path: self.relative_path(&at.text_document.uri),
            params: GenParams {
                decoding: Decoding::Greedy,
                seed: 0,
                max_new_tokens: self.config.max_new_tokens,
                stop: vec!["\n\n\n".into()],
                n: 1,
            },
            budget_tokens: self.config.budget_tokens,
            received,
            reply,
        };
        if !worker.send(job) {
            return Err(RpcError::internal_error());
        }
        match answer.await {
            Ok(Ok(Some(completion))) => Ok(Some(completion)),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(problem)) => Err(RpcError {
                code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                message: problem.into(),
                data: None,
            }),
            Err(_) => Err(RpcError::internal_error()),
        }
    }

    /// Whether a completion request that arrived at `at` follows the one before by less than
    /// the debounce; it becomes the one before.
    fn in_burst(&self, at: std::time::Instant) -> bool {
        let mut last = self
            .last_request
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let burst = last.is_some_and(|before| at.duration_since(before) < self.config.debounce);
        *last = Some(at);
        burst
    }

    /// `textDocument/inlineCompletion` (LSP 3.18): the same completion as `completion`, as
    /// ghost text inserted at the cursor. tower-lsp-server 0.23's `LanguageServer` trait has
    /// no handler for it, so [`service`] registers this one as a custom method.
    pub async fn inline_completion(
        &self,
        params: InlineCompletionParams,
    ) -> RpcResult<Option<InlineCompletionResponse>> {
        let at = params.text_document_position;
        let Some(completion) = self.complete_at("inline completion", &at).await? else {
            return Ok(None);
        };
        if completion.text.is_empty() {
            return Ok(Some(InlineCompletionResponse::Array(Vec::new())));
        }
        let item = InlineCompletionItem {
            insert_text: completion.text,
            filter_text: None,
            range: Some(Range::new(at.position, at.position)),
            command: None,
            insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        };
        Ok(Some(InlineCompletionResponse::Array(vec![item])))
    }

    fn relative_path(&self, uri: &Uri) -> Option<String> {
        let path = uri_path(uri)?;
        let root = self.root.get()?.as_ref()?;
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        let path = path
            .parent()
            .and_then(|parent| std::fs::canonicalize(parent).ok())
            .map(|parent| parent.join(path.file_name().unwrap_or_default()))
            .unwrap_or(path);
        path.strip_prefix(&root)
            .ok()
            .map(|relative| relative.to_string_lossy().into_owned())
    }
}

/// The local path of a `file:` URI.
fn uri_path(uri: &Uri) -> Option<PathBuf> {
    let text = uri.as_str().strip_prefix("file://")?;
    let mut bytes = Vec::with_capacity(text.len());
    let raw = text.as_bytes();
    let mut at = 0;
    while at < raw.len() {
        if raw[at] == b'%' && at + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[at + 1..at + 3]).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            bytes.push(raw[at]);
            at += 1;
        }
    }
    Some(PathBuf::from(String::from_utf8(bytes).ok()?))
}

fn invalid(message: impl Into<String>) -> RpcError {
    RpcError::invalid_params(message.into())
}

/// Cancels a model-thread job when the request's future is dropped (the client sent
/// `$/cancelRequest`, or the server is shutting down).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let Some(factory) = self.factory.lock().ok().and_then(|mut f| f.take()) else {
            return Err(RpcError::invalid_request());
        };
        #[allow(deprecated)]
        let client_root = params
            .workspace_folders
            .as_ref()
            .and_then(|folders| folders.first())
            .and_then(|folder| uri_path(&folder.uri))
            .or_else(|| params.root_uri.as_ref().and_then(uri_path));
        let root = if self.config.no_context {
            None
        } else {
            self.config.repo.clone().or(client_root)
        };
        let _ = self.root.set(root.clone());
        let repo = root.map(|repo| RepoOptions {
            repo,
            index_dir: self.config.index_dir.clone(),
            budget_tokens: self.config.budget_tokens,
            iterative: false,
            embeddings: self.config.embeddings,
        });
        let _ = self
            .worker
            .set(Worker::start(factory, self.settings.clone(), repo));
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(
                    TextDocumentSyncKind::FULL,
                )),
                completion_provider: Some(CompletionOptions::default()),
                inline_completion_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::REFACTOR_REWRITE]),
                        resolve_provider: Some(true),
                        ..CodeActionOptions::default()
                    },
                )),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "crucible".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        tracing::info!("client initialized");
    }

    async fn shutdown(&self) -> RpcResult<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let document = params.text_document;
        self.documents
            .lock()
            .await
            .open(document.uri, document.text, document.version);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        // Full synchronisation: the last change holds the whole text.
        let Some(change) = params.content_changes.into_iter().last() else {
            return;
        };
        if change.range.is_some() {
            self.client
                .log_message(
                    MessageType::ERROR,
                    "crucible lsp asked for full document sync; an incremental change was ignored",
                )
                .await;
            return;
        }
        let result =
            self.documents
                .lock()
                .await
                .change(&uri, change.text, params.text_document.version);
        if let Err(problem) = result {
            self.client.log_message(MessageType::ERROR, problem).await;
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if let (Ok(worker), Some(path)) = (self.worker(), uri_path(&params.text_document.uri)) {
            worker.send(Job::Update { paths: vec![path] });
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.documents.lock().await.close(&params.text_document.uri);
    }

    async fn completion(&self, params: CompletionParams) -> RpcResult<Option<CompletionResponse>> {
        let at = params.text_document_position;
        let Some(completion) = self.complete_at("completion", &at).await? else {
            return Ok(None);
        };
        if completion.text.is_empty() {
            return Ok(Some(CompletionResponse::Array(Vec::new())));
        }
        let label = completion
            .text
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_string();
        let detail = completion.context.as_ref().map(|context| {
            let chunks: Vec<String> = context
                .chunks
                .iter()
                .map(|c| {
                    format!(
                        "{}:{}-{} ({:?})",
                        c.path, c.start_line, c.end_line, c.reason
                    )
                })
                .collect();
            format!("crucible; context: {}", chunks.join(", "))
        });
        let item = CompletionItem {
            label,
            kind: Some(CompletionItemKind::TEXT),
            detail: Some(detail.unwrap_or_else(|| "crucible".into())),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                range: Range::new(at.position, at.position),
                new_text: completion.text.clone(),
            })),
            insert_text: Some(completion.text),
            ..CompletionItem::default()
        };
        Ok(Some(CompletionResponse::Array(vec![item])))
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let documents = self.documents.lock().await;
        let Some(document) = documents.get(&uri) else {
            return Err(invalid(format!(
                "code action in `{}`, which is not open (send didOpen first)",
                uri.as_str()
            )));
        };
        if !uri.as_str().ends_with(".py") {
            return Ok(Some(Vec::new()));
        }
        let line = params.range.start.line as usize;
        let Some(found) = python_function_at(&document.text, line) else {
            return Ok(Some(Vec::new()));
        };
        let action = CodeAction {
            title: format!("{ACTION_TITLE} (`{}`)", found.name),
            kind: Some(CodeActionKind::REFACTOR_REWRITE),
            data: Some(serde_json::json!({"uri": uri.as_str(), "line": line})),
            ..CodeAction::default()
        };
        Ok(Some(vec![CodeActionOrCommand::CodeAction(action)]))
    }

    async fn code_action_resolve(&self, mut action: CodeAction) -> RpcResult<CodeAction> {
        let worker = self.worker()?;
        let data = action.data.clone().unwrap_or_default();
        let (Some(uri), Some(line)) = (
            data.get("uri").and_then(|u| u.as_str()),
            data.get("line").and_then(serde_json::Value::as_u64),
        ) else {
            return Err(invalid(
                "codeAction/resolve needs the `data` codeAction gave",
            ));
        };
        let uri: Uri = uri
            .parse()
            .map_err(|_| invalid(format!("`{uri}` is not a URI")))?;
        let (found, indent) = {
            let documents = self.documents.lock().await;
            let Some(document) = documents.get(&uri) else {
                return Err(invalid(format!("`{}` is not open", uri.as_str())));
            };
            let Some(found) = python_function_at(&document.text, line as usize) else {
                return Err(invalid(format!(
                    "no function with docstring examples at line {line} any more"
                )));
            };
            let def = document
                .text
                .lines()
                .nth(found.def_line)
                .unwrap_or_default();
            let indent = def[..def.len() - def.trim_start().len()].to_string();
            (found, indent)
        };
        let strategy = Strategy::preset(DEFAULT_STRATEGY, self.config.seed)
            .map_err(|err| invalid(format!("{err}")))?;
        let plan = Plan::Strategy {
            strategy,
            budget: self.config.budget,
        };
        let (reply, answer) = oneshot::channel();
        worker.send(Job::Implement {
            task: Box::new(found.task.clone()),
            plan: Box::new(plan),
            reply,
        });
        let implemented = match answer.await {
            Ok(Ok(implemented)) => implemented,
            Ok(Err(problem)) => {
                self.client
                    .show_message(MessageType::ERROR, format!("crucible: {problem}"))
                    .await;
                return Err(RpcError {
                    code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                    message: problem.into(),
                    data: None,
                });
            }
            Err(_) => return Err(RpcError::internal_error()),
        };
        let range = Range::new(
            Position::new(found.def_line as u32, 0),
            Position::new(found.end_line as u32, 0),
        );
        let new_text = implemented
            .code
            .as_deref()
            .and_then(|code| function_text(code, &found.name, &indent));
        if let Some(new_text) = new_text {
            let mut changes = std::collections::HashMap::new();
            changes.insert(uri.clone(), vec![TextEdit { range, new_text }]);
            action.edit = Some(WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            });
        }
        let message = format!("crucible: `{}` {}", found.name, implemented.summary);
        let severity = if implemented.passed {
            DiagnosticSeverity::INFORMATION
        } else {
            DiagnosticSeverity::WARNING
        };
        action.diagnostics = Some(vec![Diagnostic {
            range: Range::new(
                Position::new(found.def_line as u32, 0),
                Position::new(found.def_line as u32, 0),
            ),
            severity: Some(severity),
            source: Some("crucible".into()),
            message: message.clone(),
            ..Diagnostic::default()
        }]);
        let kind = if implemented.passed {
            MessageType::INFO
        } else {
            MessageType::WARNING
        };
        self.client.show_message(kind, message).await;
        Ok(action)
    }
}

/// The service for a transport: `factory` opens the generator on the model thread once the
/// client sends `initialize`.
pub fn service(
    config: LspConfig,
    settings: Settings,
    factory: GeneratorFactory,
) -> (LspService<Backend>, tower_lsp_server::ClientSocket) {
    service_with(config, settings, factory, Arc::default())
}

/// [`service`], setting `shut_down` when the client sends `shutdown`.
fn service_with(
    config: LspConfig,
    settings: Settings,
    factory: GeneratorFactory,
    shut_down: Arc<AtomicBool>,
) -> (LspService<Backend>, tower_lsp_server::ClientSocket) {
    LspService::build(move |client| Backend {
        client,
        config,
        settings,
        factory: std::sync::Mutex::new(Some(factory)),
        worker: std::sync::OnceLock::new(),
        documents: Mutex::new(Documents::default()),
        root: std::sync::OnceLock::new(),
        shut_down,
        last_request: std::sync::Mutex::new(None),
    })
    .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
    .finish()
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Whether the client sent `shutdown` before it sent `exit` (or closed its input).
    pub shut_down: bool,
}

impl Ended {
    /// The process's exit code by the protocol: 0 when `shutdown` came first, 1 otherwise
    /// (LSP 3.17, the `exit` notification).
    pub fn exit_code(self) -> u8 {
        if self.shut_down { 0 } else { 1 }
    }
}

/// Serve on `input` and `output` until the client sends `exit` or closes its input. A message
/// that is not JSON is answered with a parse error and the session goes on. Returns at once
/// after `exit`, whether or not the input is still open; a reader blocked on `input` may be
/// left behind (for stdin, a blocking thread: the caller ends the process without waiting
/// for it, see `crucible lsp`).
pub async fn serve_io<R, W>(
    config: LspConfig,
    settings: Settings,
    factory: GeneratorFactory,
    input: R,
    output: W,
) -> Ended
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let shut_down = Arc::new(AtomicBool::new(false));
    let (service, socket) = service_with(config, settings, factory, shut_down.clone());
    relay::serve(input, output, service, socket).await;
    Ended {
        shut_down: shut_down.load(Ordering::SeqCst),
    }
}

/// Serve over stdin and stdout until the client exits (see [`serve_io`]).
pub async fn serve_stdio(
    config: LspConfig,
    settings: Settings,
    factory: GeneratorFactory,
) -> Ended {
    serve_io(
        config,
        settings,
        factory,
        tokio::io::stdin(),
        tokio::io::stdout(),
    )
    .await
}
