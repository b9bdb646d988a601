//! The spec and the code agree.

use std::collections::BTreeSet;

fn labels_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("secagg/v") {
        let tail = &rest[i..];
        if !(tail.starts_with("secagg/v1/") || tail.starts_with("secagg/v2/")) {
            rest = &tail[8..];
            continue;
        }
        let end = tail
            .char_indices()
            .find(|&(j, c)| j >= 10 && !(c.is_ascii_lowercase() || c == '-'))
            .map_or(tail.len(), |(j, _)| j);
        // A bare prefix ("the `secagg/v1/` labels") names no label.
        if end > 10 {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn crypto_md_lists_exactly_the_labels_in_code() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec/crypto.md")).unwrap();
    let in_spec = labels_in(&spec);
    let in_code: BTreeSet<String> = secagg::labels::ALL
        .iter()
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect();
    assert_eq!(in_spec, in_code);
    // Labels are distinct prefixes of one another's domain: none is a prefix of another.
    for a in &in_code {
        for b in &in_code {
            assert!(
                a == b || !b.starts_with(a.as_str()),
                "{a} is a prefix of {b}"
            );
        }
    }
}

#[test]
fn label_scanner_finds_labels() {
    let found = labels_in("x `secagg/v1/a-b` and secagg/v1/c.");
    assert_eq!(
        found,
        ["secagg/v1/a-b", "secagg/v1/c"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
