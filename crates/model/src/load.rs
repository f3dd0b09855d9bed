//! Reading configuration files and directories.
//!
//! A path may be a file or a directory. A directory means its `*.yaml`, `*.yml` and
//! `*.json` files (not recursive, in name order); other files are ignored. Every problem is
//! reported with its file and line, and loading reports all parse problems it finds, not
//! just the first.
//!
//! A file holds either one native document or Kubernetes manifests (see [`manifests`]);
//! one directory may mix both kinds of file.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::k8s::Resources;
use crate::native::Document;

mod manifests;

/// Most YAML nodes one file may hold: 20 per route leaves room for 100,000-route
/// generated configurations (serde-saphyr's default, 250,000, refuses 10,000 routes).
const MAX_YAML_NODES: usize = 2_000_000;

/// Parses YAML with budgets sized for large generated configurations. The budgets stay
/// (a file is operator input, but a runaway generator should get an error, not eat the
/// machine); the depth and alias limits are serde-saphyr's defaults.
pub(crate) fn from_yaml<'de, T: serde::Deserialize<'de>>(
    text: &'de str,
) -> Result<T, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: MAX_YAML_NODES,
            max_events: 4 * MAX_YAML_NODES,
            max_documents: 100_000,
        },
    };
    serde_saphyr::from_str_with_options(text, options)
}

/// One problem in the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// What is wrong, and how to fix it where that is not obvious.
    pub message: String,
}

impl Problem {
    /// A problem at a known position.
    pub fn at(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// The configuration could not be used. Holds every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// What was read: the parsed documents and every file they came from (for watching).
#[derive(Debug, Default)]
pub struct Source {
    /// One document per native file.
    pub documents: Vec<Document>,
    /// The Kubernetes objects of every manifest file.
    pub resources: Resources,
    /// Documents that were skipped (kinds Tollgate does not read), worth a debug line.
    pub notes: Vec<Problem>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Files the documents refer to (certificates, keys), resolved; watched like the
    /// configuration itself so a renewed certificate is picked up.
    pub referenced: Vec<PathBuf>,
}

/// Is this a file a configuration directory includes?
pub fn is_config_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Reads every given file or directory.
pub fn load_paths(paths: &[PathBuf]) -> Result<Source, LoadError> {
    let mut source = Source::default();
    let mut problems = Vec::new();
    for path in paths {
        match expand(path) {
            Ok(files) => source.files.extend(files),
            Err(p) => problems.push(p),
        }
    }
    if source.files.is_empty() && problems.is_empty() {
        problems.push(Problem::at(
            paths.first().map_or(Path::new("."), |p| p.as_path()),
            0,
            0,
            "no configuration files (*.yaml, *.yml, *.json) found",
        ));
    }
    for file in &source.files {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let parsed = manifests::parse_file(file, &text);
                if let Some(mut doc) = parsed.native {
                    source.referenced.extend(read_references(&mut doc));
                    source.documents.push(doc);
                }
                source.resources.extend(parsed.resources);
                source.notes.extend(parsed.notes);
                problems.extend(parsed.problems);
            }
            Err(e) => problems.push(Problem::at(file, 0, 0, format!("cannot read: {e}"))),
        }
    }
    if problems.is_empty() {
        Ok(source)
    } else {
        Err(LoadError { problems })
    }
}

/// Reads the files a document names, relative to the document's directory. A file that
/// cannot be read is recorded as an error for the translator to report at its line.
fn read_references(doc: &mut Document) -> Vec<PathBuf> {
    let base = doc
        .source
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let refs: Vec<String> = doc
        .file_refs()
        .into_iter()
        .map(|r| r.value.clone())
        .collect();
    let mut resolved = Vec::new();
    for r in refs {
        let path = base.join(&r);
        let content =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        doc.files.insert(r, content);
        resolved.push(path);
    }
    resolved
}

fn expand(path: &Path) -> Result<Vec<PathBuf>, Problem> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Problem::at(path, 0, 0, format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| Problem::at(path, 0, 0, format!("cannot list directory: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_config_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Parses one native document. An empty file is an empty document.
pub fn parse_document(file: &Path, text: &str) -> Result<Document, Problem> {
    if text.trim().is_empty() {
        return Ok(Document {
            source: file.to_path_buf(),
            ..Document::default()
        });
    }
    match from_yaml::<Document>(text) {
        Ok(mut doc) => {
            doc.source = file.to_path_buf();
            Ok(doc)
        }
        Err(e) => {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            Err(Problem::at(file, line, column, first_line(&e.to_string())))
        }
    }
}

/// saphyr's messages carry `error: line X column Y:` and a source snippet; the position is
/// already in our prefix, so keep only the message itself.
fn first_line(msg: &str) -> String {
    let mut line = msg.lines().next().unwrap_or(msg).trim();
    line = line.strip_prefix("error: ").unwrap_or(line);
    if let Some(rest) = line.strip_prefix("line ")
        && let Some(i) = rest.find(": ")
    {
        line = &rest[i + 2..];
    }
    line.to_owned()
}

#[cfg(test)]
mod tests;
