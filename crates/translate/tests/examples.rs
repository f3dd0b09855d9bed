//! Every native example in the repository's `examples/` translates without problems,
//! so the documentation cannot drift from what the gateway accepts.

use std::path::Path;

use tollgate_translate::load_and_translate;

#[test]
fn examples_translate_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no examples/ directory; nothing to check");
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable example");
        // Kubernetes manifests (Gateway API, Ingress) are not native documents; a native
        // document can never have `apiVersion:`, so this cannot skip one by mistake.
        if text.lines().any(|l| l.starts_with("apiVersion:")) {
            continue;
        }
        checked += 1;
        if let Err(e) = load_and_translate(std::slice::from_ref(file)) {
            failures.push(e.to_string());
        }
    }
    eprintln!("checked {checked} native example(s) in {}", dir.display());
    assert!(
        failures.is_empty(),
        "examples with problems:\n{}",
        failures.join("\n")
    );
}
