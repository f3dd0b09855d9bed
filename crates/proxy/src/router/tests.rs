use super::*;

#[test]
fn prefix_is_segment_wise() {
    assert!(prefix_matches("/orders", "/orders"));
    assert!(prefix_matches("/orders", "/orders/1"));
    assert!(!prefix_matches("/orders", "/ordersx"));
    assert!(prefix_matches("", "/anything"));
}

#[test]
fn query_values_are_decoded() {
    assert_eq!(query_value("a=1&v=2", "v").as_deref(), Some("2"));
    assert_eq!(query_value("v=a%20b", "v").as_deref(), Some("a b"));
    assert_eq!(query_value("v", "v").as_deref(), Some(""));
    assert_eq!(query_value("x=1", "v"), None);
    assert_eq!(query_value("v=%zz", "v").as_deref(), Some("%zz"));
    assert_eq!(query_value("v=%4", "v").as_deref(), Some("%4"));
}
