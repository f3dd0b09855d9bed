//! Query-string conditions: the value of a parameter as a route's query match sees it.

/// The first value of a query parameter, decoded as a form (`%XX` escapes and `+` as a
/// space; a malformed escape stays as written).
pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
