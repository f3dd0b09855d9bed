//! The `compression` route policy, checked for both sources (native `policies:` and the
//! Kubernetes `Policy`) through [`crate::content::Sink`].

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::policies as model;

use crate::content::{Item, Sink, items};
use crate::problems::{Pos, Scope};
use crate::syntax;

/// Bodies smaller than this are not worth a compressor's setup and framing.
pub(crate) const DEFAULT_MIN_SIZE: u64 = 1024;

/// A `compression` block from either source.
pub(crate) struct CompressionIn<'a, A> {
    /// Where the block is.
    pub(crate) at: A,
    pub(crate) algorithms: Option<Vec<Item<'a, A>>>,
    pub(crate) min_size: Option<u64>,
    pub(crate) content_types: Option<Vec<Item<'a, A>>>,
    /// gzip, br, zstd, each with where it was written.
    pub(crate) levels: [Option<(A, i64)>; 3],
}

/// Native `compression`.
pub(crate) fn compression(
    c: &Spanned<model::Compression>,
    cx: &mut Scope<'_, '_>,
) -> ir::Compression {
    let v = &c.value;
    let level = |l: &Option<Spanned<i64>>, cx: &Scope<'_, '_>| -> Option<(Pos, i64)> {
        l.as_ref().map(|l| (cx.pos_of(l), l.value))
    };
    let levels = match &v.levels {
        Some(l) => [
            level(&l.value.gzip, cx),
            level(&l.value.br, cx),
            level(&l.value.zstd, cx),
        ],
        None => [None, None, None],
    };
    let input = CompressionIn {
        at: cx.pos_of(c),
        algorithms: v.algorithms.as_ref().map(|a| items(a, cx)),
        min_size: v.min_size.as_ref().map(|m| m.value.0),
        content_types: v.content_types.as_ref().map(|t| items(t, cx)),
        levels,
    };
    check(input, cx)
}

/// `compression`, checked: known codings, each once; media-type patterns; levels in
/// each coding's range.
pub(crate) fn check<S: Sink>(v: CompressionIn<'_, S::At>, cx: &mut S) -> ir::Compression {
    let algorithms = match &v.algorithms {
        None => ir::Coding::ALL.to_vec(),
        Some(list) => {
            if list.is_empty() {
                cx.problem(
                    v.at,
                    format_args!(
                        "compression.algorithms is empty; leave it out for the default (zstd, br, gzip)"
                    ),
                );
            }
            let mut out = Vec::with_capacity(list.len());
            for a in list {
                let Some(c) = coding(a.value) else {
                    cx.problem(
                        a.at,
                        format_args!(
                            "compression.algorithms: unknown coding {:?}; use zstd, br or gzip",
                            a.value
                        ),
                    );
                    continue;
                };
                if out.contains(&c) {
                    cx.problem(
                        a.at,
                        format_args!("compression.algorithms: {:?} is listed twice", a.value),
                    );
                    continue;
                }
                out.push(c);
            }
            out
        }
    };
    let types_key = format!("compression.{}", cx.key("content_types"));
    let content_types = match &v.content_types {
        None => ir::DEFAULT_COMPRESSIBLE_TYPES.map(str::to_owned).to_vec(),
        Some(list) => {
            if list.is_empty() {
                cx.problem(
                    v.at,
                    format_args!(
                        "{types_key} is empty; leave it out for the default (text, JSON, JavaScript, XML, SVG)"
                    ),
                );
            }
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for t in list {
                match media_pattern(t.value) {
                    Ok(p) if out.contains(&p) => cx.problem(
                        t.at,
                        format_args!("{types_key}: {:?} is listed twice", t.value),
                    ),
                    Ok(p) => out.push(p),
                    Err(e) => cx.problem(t.at, format_args!("{types_key}: {e}")),
                }
            }
            out
        }
    };
    let defaults = ir::CompressionLevels::default();
    let mut level = |i: usize, name: &str, range: (i64, i64), default: i64| -> i64 {
        match v.levels[i] {
            Some((at, n)) if n < range.0 || n > range.1 => {
                cx.problem(
                    at,
                    format_args!(
                        "compression.levels.{name} is {n}; use {} to {} (default {default})",
                        range.0, range.1
                    ),
                );
                default
            }
            Some((_, n)) => n,
            None => default,
        }
    };
    // The ranges bound the casts below. zstd stops at 19: 20–22 need far more memory
    // per stream than a gateway should spend.
    let gzip = level(0, "gzip", (1, 9), i64::from(defaults.gzip));
    let br = level(1, "br", (0, 11), i64::from(defaults.br));
    let zstd = level(2, "zstd", (1, 19), i64::from(defaults.zstd));
    ir::Compression {
        algorithms,
        min_size: v.min_size.unwrap_or(DEFAULT_MIN_SIZE),
        content_types,
        levels: ir::CompressionLevels {
            gzip: u32::try_from(gzip).unwrap_or(defaults.gzip),
            br: u32::try_from(br).unwrap_or(defaults.br),
            zstd: i32::try_from(zstd).unwrap_or(defaults.zstd),
        },
    }
}

fn coding(name: &str) -> Option<ir::Coding> {
    ir::Coding::ALL
        .into_iter()
        .find(|c| c.token().eq_ignore_ascii_case(name))
}

/// A media-type pattern, lower-cased: `type/subtype`, `type/*`, `type/*+suffix`, or
/// `*/*+suffix`.
fn media_pattern(s: &str) -> Result<String, String> {
    let p = s.trim().to_ascii_lowercase();
    if p.contains(';') {
        return Err(format!(
            "{s:?}: leave parameters out (a pattern matches the media type whatever its parameters)"
        ));
    }
    let Some((ty, sub)) = p.split_once('/') else {
        return Err(format!(
            "{s:?} is not a media type; write type/subtype, type/* or type/*+suffix (application/*+json)"
        ));
    };
    let sub_ok = sub == "*"
        || syntax::is_token(sub) && !sub.contains('*')
        || sub
            .strip_prefix("*+")
            .is_some_and(|suffix| syntax::is_token(suffix) && !suffix.contains('*'));
    let ty_ok = (ty == "*" && sub != "*" && sub.starts_with("*+"))
        || (syntax::is_token(ty) && !ty.contains('*'));
    if !sub_ok || !ty_ok {
        return Err(format!(
            "{s:?} is not a media-type pattern; write type/subtype, type/* or type/*+suffix"
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_patterns() {
        assert_eq!(media_pattern("Text/HTML").unwrap(), "text/html");
        assert!(media_pattern("text/*").is_ok());
        assert!(media_pattern("application/*+json").is_ok());
        assert!(media_pattern("*/*+xml").is_ok());
        assert!(media_pattern("*/*").is_err());
        assert!(media_pattern("*/json").is_err());
        assert!(media_pattern("text").is_err());
        assert!(media_pattern("text/html; charset=utf-8").is_err());
        assert!(media_pattern("text/ht*ml").is_err());
    }

    #[test]
    fn k8s_problems_are_collected_with_camel_case_keys() {
        let algos = crate::content::plain(&[]);
        let types = vec!["text/plain".to_owned(), "bad".to_owned()];
        let input = CompressionIn {
            at: (),
            algorithms: Some(algos),
            min_size: None,
            content_types: Some(crate::content::plain(&types)),
            levels: [Some(((), 10)), None, None],
        };
        let mut problems = Vec::new();
        let out = check(input, &mut problems);
        assert_eq!(out.levels.gzip, 2, "the default, for a level out of range");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[1].starts_with("compression.contentTypes:"));
    }
}
