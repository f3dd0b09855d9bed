//! Collecting user mistakes, each with where it is, and handing them back in file order.

use std::time::Duration;

use tollgate_model::units::Dur;
use tollgate_model::{Document, LoadError, Problem, Spanned};

/// A position in the input: which document (by index, so problems sort in the order the
/// files were given, not alphabetically by path), then line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) doc: usize,
    pub(crate) line: u64,
    pub(crate) column: u64,
}

impl Pos {
    /// Where a spanned value of document `doc` was written.
    pub(crate) fn of<T>(doc: usize, value: &Spanned<T>) -> Self {
        Self {
            doc,
            line: value.referenced.line(),
            column: value.referenced.column(),
        }
    }
}

/// An item of one document, with the document's index.
#[derive(Debug)]
pub(crate) struct At<'a, T> {
    pub(crate) doc: usize,
    pub(crate) item: &'a T,
}

// Derived Clone/Copy would demand `T: Copy`; the item is only borrowed.
impl<T> Clone for At<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for At<'_, T> {}

impl<T> At<'_, T> {
    /// The position of a spanned part of this item.
    pub(crate) fn pos<U>(&self, value: &Spanned<U>) -> Pos {
        Pos::of(self.doc, value)
    }
}

/// Every problem found so far.
pub(crate) struct Problems<'a> {
    docs: &'a [Document],
    found: Vec<(Pos, String)>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(docs: &'a [Document]) -> Self {
        Self {
            docs,
            found: Vec::new(),
        }
    }

    /// Records a problem at `at`.
    pub(crate) fn push(&mut self, at: Pos, message: impl Into<String>) {
        self.found.push((at, message.into()));
    }

    /// The content the loader read for a file named in document `doc`.
    pub(crate) fn file(&self, doc: usize, path: &str) -> Option<&Result<Vec<u8>, String>> {
        self.docs.get(doc).and_then(|d| d.files.get(path))
    }

    /// The file document `doc` was read from.
    pub(crate) fn source(&self, doc: usize) -> Option<&std::path::Path> {
        self.docs.get(doc).map(|d| d.source.as_path())
    }

    /// `file:line:column`, for messages that point at a second place (a first definition).
    pub(crate) fn place(&self, at: Pos) -> String {
        let file = self
            .docs
            .get(at.doc)
            .map_or_else(String::new, |d| d.source.display().to_string());
        format!("{file}:{}:{}", at.line, at.column)
    }

    /// The value if nothing went wrong, otherwise every problem sorted by file order, then
    /// line and column. The sort is stable so problems at one position keep the order in
    /// which the pipeline found them.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, LoadError> {
        if self.found.is_empty() {
            return Ok(value);
        }
        self.found.sort_by_key(|(at, _)| *at);
        let problems = self
            .found
            .into_iter()
            .map(|(at, message)| {
                let file = self.docs.get(at.doc).map(|d| d.source.as_path());
                Problem::at(
                    file.unwrap_or(std::path::Path::new("")),
                    at.line,
                    at.column,
                    message,
                )
            })
            .collect();
        Err(LoadError { problems })
    }
}

/// `"a", "b"` style list for messages, or a fallback when there is nothing to list.
pub(crate) fn list_names<'n>(names: impl IntoIterator<Item = &'n str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The checks of one named object (a service, a route): problems are prefixed with
/// `kind "name": `, and values without a position of their own are reported at the name.
pub(crate) struct Scope<'p, 'd> {
    /// Where the object's name is written.
    pub(crate) pos: Pos,
    /// The object's document.
    pub(crate) doc: usize,
    kind: &'static str,
    name: &'p str,
    p: &'p mut Problems<'d>,
}

impl<'p, 'd> Scope<'p, 'd> {
    pub(crate) fn new(
        kind: &'static str,
        name: &'p Spanned<String>,
        doc: usize,
        p: &'p mut Problems<'d>,
    ) -> Self {
        Self {
            pos: Pos::of(doc, name),
            doc,
            kind,
            name: &name.value,
            p,
        }
    }

    /// The position of a spanned part of the object.
    pub(crate) fn pos_of<T>(&self, value: &Spanned<T>) -> Pos {
        Pos::of(self.doc, value)
    }

    /// A problem at `at`.
    pub(crate) fn push(&mut self, at: Pos, message: impl std::fmt::Display) {
        self.p
            .push(at, format!("{} {:?}: {message}", self.kind, self.name));
    }

    /// The content the loader read for a file this object names.
    pub(crate) fn file(&self, path: &str) -> Option<&Result<Vec<u8>, String>> {
        self.p.file(self.doc, path)
    }

    /// `file:line:column` of a position.
    pub(crate) fn place(&self, at: Pos) -> String {
        self.p.place(at)
    }

    /// The directory of the object's file: relative paths in it start there.
    pub(crate) fn base_dir(&self) -> std::path::PathBuf {
        self.p
            .source(self.doc)
            .and_then(std::path::Path::parent)
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A problem in a value that has no position of its own.
    pub(crate) fn here(&mut self, message: impl std::fmt::Display) {
        self.push(self.pos, message);
    }

    /// A duration that must not be zero (a zero timeout fails every attempt, a zero
    /// interval would probe without pause).
    pub(crate) fn positive(&mut self, key: &str, v: Option<Dur>, default: Duration) -> Duration {
        match v {
            Some(d) if d.0.is_zero() => {
                self.here(format_args!(
                    "{key} must be greater than 0 (default {})",
                    Dur(default)
                ));
                default
            }
            Some(d) => d.0,
            None => default,
        }
    }

    /// A count that must be at least 1.
    pub(crate) fn at_least_one(&mut self, key: &str, v: Option<u32>, default: u32) -> u32 {
        match v {
            Some(0) => {
                self.here(format_args!("{key} must be at least 1 (default {default})"));
                default
            }
            Some(n) => n,
            None => default,
        }
    }

    /// A percentage, 0 to 100; a problem is reported at `at`.
    pub(crate) fn percent(&mut self, at: Pos, key: &str, v: Option<u8>, default: u8) -> u8 {
        match v {
            Some(n) if n > 100 => {
                self.push(at, format_args!("{key} is {n}; a percentage is 0 to 100"));
                default
            }
            Some(n) => n,
            None => default,
        }
    }
}
