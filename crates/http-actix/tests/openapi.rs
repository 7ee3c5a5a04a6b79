//! The generated OpenAPI document keeps the contract: the schemas of the confirm endpoint equal
//! the seed's (`tests/fixtures/seed-schemas.json`, the seed's YAML converted to JSON) in names,
//! property types, required fields, references and enum values. Extra properties are allowed
//! (the contract permits extensions); missing or retyped ones are not.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use serde_json::Value;
use std::collections::BTreeSet;

const CONTRACT: [&str; 7] = [
    "ConfirmUploadRequest",
    "ConfirmUploadResponse",
    "ErrorResponse",
    "ErrorDetail",
    "TaskStatusEnum",
    "HTTPValidationError",
    "ValidationError",
];

fn seed() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed-schemas.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["schemas"].clone()
}

fn generated() -> Value {
    serde_json::to_value(stowage_http_actix::openapi::document()).unwrap()["components"]["schemas"].clone()
}

/// The set of types a schema admits: JSON types, `ref:<Name>` for contract schemas, and
/// `array<...>` for arrays. References to other schemas are followed.
fn types(schema: &Value, all: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap();
        if CONTRACT.contains(&name) {
            out.insert(format!("ref:{name}"));
        } else {
            out.extend(types(&all[name], all));
        }
        return out;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(members) = schema.get(key).and_then(Value::as_array) {
            for m in members {
                out.extend(types(m, all));
            }
        }
    }
    let mut add = |t: &str| {
        if t == "array" {
            let items = schema.get("items").map(|i| types(i, all)).unwrap_or_default();
            out.insert(format!("array<{}>", items.into_iter().collect::<Vec<_>>().join("|")));
        } else {
            out.insert(t.to_owned());
        }
    };
    match schema.get("type") {
        Some(Value::String(t)) => add(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).for_each(&mut add),
        _ => {}
    }
    out
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_contract_schema_is_generated_with_the_seeds_properties_types_and_required_fields() {
    let (seed, generated) = (seed(), generated());
    let mut problems = Vec::new();
    for name in CONTRACT {
        let (want, got) = (&seed[name], &generated[name]);
        if got.is_null() {
            problems.push(format!("{name}: not in the generated document"));
            continue;
        }
        let seed_props = want.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        for (prop, want_schema) in &seed_props {
            let Some(got_schema) = got["properties"].get(prop) else {
                problems.push(format!("{name}.{prop}: missing"));
                continue;
            };
            let (w, g) = (types(want_schema, &seed), types(got_schema, &generated));
            if w != g {
                problems.push(format!("{name}.{prop}: seed types {w:?}, generated {g:?}"));
            }
        }
        let seed_names: BTreeSet<String> = seed_props.keys().cloned().collect();
        let got_required: BTreeSet<String> = required(got).intersection(&seed_names).cloned().collect();
        if required(want) != got_required {
            problems.push(format!("{name}: seed requires {:?}, generated requires {got_required:?}", required(want)));
        }
        if want.get("enum") != got.get("enum") {
            problems.push(format!("{name}: enum values differ: {:?} vs {:?}", want.get("enum"), got.get("enum")));
        }
        if types(want, &seed) != types(got, &generated) {
            problems.push(format!("{name}: type {:?} vs {:?}", types(want, &seed), types(got, &generated)));
        }
    }
    assert!(problems.is_empty(), "the generated schemas drift from the contract:\n{}", problems.join("\n"));
}

#[test]
fn the_comparison_catches_a_retyped_property() {
    let seed = seed();
    let mut tampered = generated();
    tampered["ConfirmUploadResponse"]["properties"]["file_size_bytes"] = serde_json::json!({"type": "string"});
    let want = types(&seed["ConfirmUploadResponse"]["properties"]["file_size_bytes"], &seed);
    let got = types(&tampered["ConfirmUploadResponse"]["properties"]["file_size_bytes"], &tampered);
    assert_ne!(want, got);
}

#[test]
fn the_confirm_operation_declares_the_seeds_responses_and_async_parameter() {
    let doc = serde_json::to_value(stowage_http_actix::openapi::document()).unwrap();
    let op = &doc["paths"]["/v1/buckets/{bucket_identifier}/uploads/{upload_id}/confirm"]["post"];
    assert_eq!(op["operationId"], "confirm_upload_v1_buckets__bucket_identifier__uploads__upload_id__confirm_post");
    for status in ["200", "400", "401", "403", "404", "422", "500"] {
        assert!(op["responses"].get(status).is_some(), "response {status} not declared");
    }
    let params: Vec<&str> = op["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(
        params.contains(&"async") && params.contains(&"bucket_identifier") && params.contains(&"upload_id"),
        "{params:?}"
    );
    let async_param = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "async").unwrap();
    assert_eq!(async_param["in"], "query", "the seed declares `async` in the query");
}

/// Every `{name}` of every path is a declared, required path parameter with the server's
/// pattern; every operation but the probes requires the bearer key and declares the errors
/// authentication can give. (schemathesis and client generators refuse a document without this.)
#[test]
fn every_operation_declares_its_path_parameters_security_and_auth_errors() {
    let doc = serde_json::to_value(stowage_http_actix::openapi::document()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let names: Vec<&str> = path.split('{').skip(1).filter_map(|r| r.split_once('}')).map(|(n, _)| n).collect();
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for param in params.iter().filter(|p| p["in"] == "path") {
                let name = param["name"].as_str().unwrap();
                assert!(names.contains(&name), "{method} {path}: `{name}` is not in the path (a query parameter?)");
            }
            for name in &names {
                let param = params.iter().find(|p| p["in"] == "path" && p["name"] == *name);
                let param = param.unwrap_or_else(|| panic!("{method} {path}: path parameter {name} not declared"));
                assert_eq!(param["required"], true, "{method} {path} {name}");
                assert!(
                    param["schema"]["pattern"].as_str().is_some_and(|p| p.starts_with('^')),
                    "{method} {path} {name}"
                );
            }
            if path != "/healthz" && path != "/readyz" {
                assert_eq!(op["security"], serde_json::json!([{"bearer": []}]), "{method} {path}");
                for status in ["401", "403", "404", "503"] {
                    assert!(op["responses"].get(status).is_some(), "{method} {path}: {status} not declared");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 27, "only {checked} operations");
}

/// The request constraints the server enforces are in the document, from the same constants.
#[test]
fn request_constraints_are_declared_from_the_servers_own_rules() {
    let schemas = generated();
    let filename = &schemas["CreateUploadRequest"]["properties"]["filename"]["pattern"];
    assert_eq!(filename.as_str(), Some(stowage_domain::names::Filename::PATTERN));
    let blobs = &schemas["CreateObjectRequest"]["properties"]["blobs"];
    assert_eq!((blobs["minItems"].as_u64(), blobs["maxItems"].as_u64()), (Some(1), Some(20)));
    let parts = &schemas["PartUrlsRequest"]["properties"]["part_numbers"];
    assert_eq!((parts["maxItems"].as_u64(), parts["items"]["maximum"].as_u64()), (Some(1000), Some(10000)));
    assert_eq!(schemas["Paging"]["properties"]["limit"]["maximum"].as_u64(), Some(100));
    let doc = serde_json::to_value(stowage_http_actix::openapi::document()).unwrap();
    for list in [
        "/v1/buckets/{bucket_identifier}/uploads/list",
        "/v1/buckets/{bucket_identifier}/objects/list",
        "/v1/tasks/list",
    ] {
        let params = doc["paths"][list]["post"]["parameters"].as_array().unwrap();
        let limit = params.iter().find(|p| p["in"] == "query" && p["name"] == "limit").unwrap();
        assert_eq!(limit["schema"]["maximum"].as_u64(), Some(100), "{list}");
    }
}

/// Generated clients name their methods after operationIds: each is unique and says what it does,
/// and every response has the description OpenAPI requires.
#[test]
fn operation_ids_are_unique_and_responses_described() {
    let doc = serde_json::to_value(stowage_http_actix::openapi::document()).unwrap();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(id.contains('_') || ["healthz", "readyz"].contains(&id), "{method} {path}: `{id}` says too little");
            assert!(ids.insert(id.to_owned()), "{method} {path}: operationId `{id}` repeats");
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(response["description"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path} {status}");
            }
        }
    }
}
