use super::*;

fn m(path: ir::PathMatch) -> ir::RouteMatch {
    ir::RouteMatch {
        path,
        ..ir::RouteMatch::default()
    }
}

fn prefix(p: &str) -> ir::RouteMatch {
    m(ir::PathMatch::Prefix(p.to_owned()))
}

fn header(name: &str) -> ir::ValueMatch {
    ir::ValueMatch {
        name: name.to_owned(),
        value: ir::StringMatch::Exact("x".to_owned()),
    }
}

/// Sorts the matches by their keys (written in this order) and returns the original
/// indices in precedence order.
fn sorted(matches: &[ir::RouteMatch]) -> Vec<usize> {
    let mut keyed: Vec<(Precedence, usize)> = matches
        .iter()
        .enumerate()
        .map(|(i, m)| (Precedence::of(m, i), i))
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, i)| i).collect()
}

#[test]
fn exact_then_regex_then_prefix_regardless_of_length() {
    let got = sorted(&[
        prefix("/a/very/long/prefix/indeed"),
        m(ir::PathMatch::Regex("/.*".to_owned())),
        m(ir::PathMatch::Exact("/".to_owned())),
    ]);
    assert_eq!(got, [2, 1, 0]);
}

#[test]
fn longer_prefix_and_longer_regex_first() {
    assert_eq!(
        sorted(&[prefix("/"), prefix("/ab"), prefix("/abc")]),
        [2, 1, 0]
    );
    let re = |s: &str| m(ir::PathMatch::Regex(s.to_owned()));
    assert_eq!(sorted(&[re("/a.*"), re("/a/b/.*")]), [1, 0]);
}

#[test]
fn prefix_length_counts_characters_not_bytes() {
    // "/üü" is 5 bytes but 3 characters: by characters "/abc" (4) is longer, and
    // "/üü" ties with "/ab" (3) so configuration order decides. Counting bytes would
    // give [0, 1, 2].
    assert_eq!(
        sorted(&[prefix("/üü"), prefix("/abc"), prefix("/ab")]),
        [1, 0, 2]
    );
}

#[test]
fn path_beats_every_other_condition() {
    let mut short = prefix("/a");
    short.methods = vec!["GET".to_owned()];
    short.headers = vec![header("x-a"), header("x-b")];
    assert_eq!(sorted(&[short, prefix("/ab")]), [1, 0]);
}

#[test]
fn method_then_headers_then_query() {
    let mut method = prefix("/a");
    method.methods = vec!["GET".to_owned()];
    let mut headers = prefix("/a");
    headers.headers = vec![header("x-a"), header("x-b")];
    let mut one_header = prefix("/a");
    one_header.headers = vec![header("x-a")];
    let mut query = prefix("/a");
    query.query = vec![header("q")];
    let plain = prefix("/a");
    assert_eq!(
        sorted(&[plain, query, one_header, headers, method]),
        [4, 3, 2, 1, 0]
    );
}

#[test]
fn headers_outrank_query_even_when_fewer() {
    let mut one_header = prefix("/a");
    one_header.headers = vec![header("x-a")];
    let mut many_query = prefix("/a");
    many_query.query = vec![header("a"), header("b"), header("c")];
    assert_eq!(sorted(&[many_query, one_header]), [1, 0]);
}

#[test]
fn full_ties_keep_configuration_order() {
    assert_eq!(
        sorted(&[prefix("/a"), prefix("/b"), prefix("/c")]),
        [0, 1, 2]
    );
    assert!(Precedence::of(&prefix("/a"), 0) < Precedence::of(&prefix("/a"), 1));
}

#[test]
fn templates_between_exact_and_regex_more_literal_first() {
    let t = |s: &str| m(ir::PathMatch::Template(s.to_owned()));
    let got = sorted(&[
        prefix("/users"),
        m(ir::PathMatch::Regex("/users/[0-9]+".to_owned())),
        t("/users/{id}"),
        m(ir::PathMatch::Exact("/users/me".to_owned())),
        t("/users/{id}/orders"),
    ]);
    assert_eq!(got, [3, 4, 2, 1, 0]);
    // `{a_long_name}` counts for nothing: literal text decides.
    assert_eq!(sorted(&[t("/u/{a_long_name}"), t("/u/{x}.json")]), [1, 0]);
}
