//! docs/api.md stays true to the API: every route its table lists is an operation of the OpenAPI
//! document, and every operation of the document is in the table; its "Codes" section is exactly
//! `stowage_domain::error::codes`.

use std::collections::BTreeSet;

#[test]
fn docs_api_md_lists_exactly_the_documented_operations() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).unwrap();
    let listed: BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(route, _)| route.to_owned()))
        .filter(|route| route.split_once(' ').is_some_and(|(m, _)| m.chars().all(|c| c.is_ascii_uppercase())))
        .collect();
    let doc = serde_json::to_value(stowage_http_actix::openapi::document()).unwrap();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| format!("{} {path}", method.to_ascii_uppercase()))
        })
        .collect();
    let missing: Vec<_> = documented.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&documented).collect();
    assert!(missing.is_empty(), "in /openapi.json but not in docs/api.md: {missing:?}");
    assert!(unknown.is_empty(), "in docs/api.md but not in /openapi.json: {unknown:?}");
    assert!(listed.len() >= 27, "{listed:?}");
}

#[test]
fn docs_api_md_lists_exactly_the_error_codes_of_the_codes_module() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).unwrap();
    let section = &text[text.find("## Codes").expect("a Codes section")..];
    let section = section[2..].find("\n## ").map_or(section, |end| &section[..end + 2]);
    let listed: BTreeSet<&str> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| word.chars().all(|c| c.is_ascii_lowercase() || c == '_') && *word != "code" && *word != "type")
        .collect();
    let declared: BTreeSet<&str> = stowage_domain::error::codes::ALL.iter().copied().collect();
    assert_eq!(declared.len(), stowage_domain::error::codes::ALL.len(), "a code is declared twice");
    let undocumented: Vec<_> = declared.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&declared).collect();
    assert!(undocumented.is_empty(), "in error::codes but not in docs/api.md: {undocumented:?}");
    assert!(unknown.is_empty(), "in docs/api.md but not in error::codes: {unknown:?}");
}
